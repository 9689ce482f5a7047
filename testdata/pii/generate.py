#!/usr/bin/env python3
"""Generate the labelled PII corpus for veil-detect's corpus test.

    python3 testdata/pii/generate.py          # writes corpus.jsonl and heldout.jsonl here

Deterministic (fixed seeds). Needs `pip install faker` (names, companies). Every template is
our own; values come from values.py (checksums computed, never copied from anywhere).
Output records: {"text": str, "spans": [{"start": int, "end": int, "label": str}]}, offsets in
Unicode code points. Hard negatives (Luhn-failing cards, order/tracking/invoice numbers,
never-issued SSN areas, version strings, file names, UUIDs, hashes, durations, vitals, doses,
house numbers and ZIP-like numbers outside addresses) appear unlabelled.

`heldout.jsonl` uses a separate set of templates and value formats, written before the
analyzer was tuned on `corpus.jsonl`, to measure how far results carry beyond our own phrasing.
"""
import json
import os
import random
import re
import string
import sys
import uuid

from faker import Faker

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import values as v  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def slots(rng, fake, heldout):
    """Slot name -> (label or None, zero-arg generator)."""
    date_styles = ["eu_slash", "ordinal", "month_year", "log_ts", "iso", "long"] if heldout else None
    phone_styles = ["dot", "intl_us", "uk_nat", "de_intl", "ext", "paren"] if heldout else None
    addr_styles = ["us_apt", "uk", "de", "fr", "us_full"] if heldout else None
    return {
        "NAME": ("PERSON", fake.name),
        "FIRST": (None, fake.first_name),
        "COMPANY": (None, lambda: fake.company().replace(",", "")),
        "EMAIL": ("EMAIL_ADDRESS", lambda: fake.user_name() + "@" + rng.choice(["example.com", "mail.example.org", "corp.example.net", fake.domain_name()])),
        "PHONE": ("PHONE_NUMBER", lambda: v.phone(rng, phone_styles)),
        "CARD": ("CREDIT_CARD", lambda: v.credit_card(rng)),
        "SSN": ("US_SSN", lambda: v.ssn(rng, rng.choice(["dash", "dash", "space"]))),
        "SSN_PLAIN": ("US_SSN", lambda: v.ssn(rng, "plain")),
        "ITIN": ("US_ITIN", lambda: v.itin(rng)),
        "IBAN": ("IBAN_CODE", lambda: v.iban(rng)),
        "NHS": ("UK_NHS", lambda: v.nhs(rng)),
        "AADHAAR": ("IN_AADHAAR", lambda: v.aadhaar(rng)),
        "BTC": ("CRYPTO", lambda: v.btc_base58(rng) if rng.random() < 0.6 else v.btc_bech32(rng)),
        "ETH": ("CRYPTO", lambda: v.eth(rng)),
        "IPV4": ("IP_ADDRESS", lambda: v.ipv4(rng)),
        "IPV6": ("IP_ADDRESS", lambda: v.ipv6(rng)),
        "MAC": ("MAC_ADDRESS", lambda: v.mac(rng)),
        "URL": ("URL", lambda: rng.choice(["https://", "http://", "https://www.", "www."]) + fake.domain_name() + rng.choice(["", "/", "/login", "/account/settings", "/docs/" + fake.slug(), "/search?q=" + fake.word()])),
        "DATE": ("DATE_TIME", lambda: v.date(rng, date_styles)),
        "DOB": ("DATE_TIME", lambda: v.date(rng, ["us", "iso", "long", "eu_dot"] if not heldout else ["long_dmy", "eu_slash", "iso"])),
        "TS": ("DATE_TIME", lambda: v.date(rng, ["iso_ts", "log_ts"])),
        "ADDRESS": ("STREET_ADDRESS", lambda: v.address(rng, addr_styles)),
        "AGE": ("AGE", lambda: str(rng.randint(18, 95))),
        "ZIP": ("ZIP_CODE", lambda: f"{rng.randint(10000, 99999)}"),
        "DL": ("US_DRIVER_LICENSE", lambda: rng.choice(string.ascii_uppercase) + v.rand(rng, string.digits, 7)),
        "PASSPORT": ("US_PASSPORT", lambda: v.rand(rng, string.digits, 9)),
        "BANK": ("US_BANK_NUMBER", lambda: v.rand(rng, string.digits, rng.randint(10, 14))),
        "NINO": ("UK_NINO", lambda: v.nino(rng)),
        "PAN": ("IN_PAN", lambda: v.pan(rng)),
        "MRN": ("MEDICAL_RECORD_NUMBER", lambda: v.rand(rng, string.digits, rng.choice([7, 8, 10]))),
        "APIKEY": ("SECRET", lambda: v.secret(rng)),
        "PASSWORD": ("SECRET", lambda: v.password(rng)),
        "TOKEN": ("SECRET", lambda: v.entropy_token(rng)),
        # Hard negatives: never labelled.
        "BADCARD": (None, lambda: v.bad_card(rng)),
        "BADSSN": (None, lambda: v.bad_ssn(rng)),
        "ORDER": (None, lambda: rng.choice(["", "#", "ORD-", "SO-"]) + v.rand(rng, string.digits, rng.choice([6, 8, 9, 10, 12]))),
        "TRACKING": (None, lambda: rng.choice(["1Z" + v.rand(rng, string.ascii_uppercase + string.digits, 16), "9400" + v.rand(rng, string.digits, 18), v.rand(rng, string.digits, 12)])),
        "INVOICE": (None, lambda: rng.choice(["INV-", "INV", "#"]) + v.rand(rng, string.digits, rng.choice([5, 6, 8]))),
        "UUID": (None, lambda: str(uuid.UUID(int=rng.getrandbits(128)))),
        "HASH": (None, lambda: v.rand(rng, "0123456789abcdef", rng.choice([40, 64]))),
        "VERSION": (None, lambda: ".".join(str(rng.randint(0, 20)) for _ in range(rng.choice([3, 4])))),
        "FILE": (None, lambda: rng.choice(["main.rs", "lib.rs", "app.py", "index.js", "README.md", "report.pdf", "data.csv", "config.toml", "server.go", "notes.txt"])),
        "DURATION": (None, lambda: rng.choice([f"{rng.randint(1, 12)} days", f"{rng.randint(1, 59)} minutes", f"{rng.randint(1, 9)}h {rng.randint(1, 59)}m", f"{rng.randint(1, 8)} weeks", f"{rng.randint(0, 2):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"])),
        "VITALS": (None, lambda: f"BP {rng.randint(95, 180)}/{rng.randint(55, 110)}, HR {rng.randint(50, 130)}, SpO2 {rng.randint(88, 100)}%, temp {rng.randint(96, 103)}.{rng.randint(0, 9)}F"),
        "DOSE": (None, lambda: rng.choice([f"{rng.choice([5, 10, 20, 25, 50, 100, 250, 500, 1000])} mg", f"{rng.randint(1, 20)}.{rng.randint(0, 9)} mL", f"{rng.randint(1, 4)} tablets"])),
        "HOUSE": (None, lambda: str(rng.randint(1, 9999))),
        "ZIPLIKE": (None, lambda: f"{rng.randint(10000, 99999)}"),
        "NUM": (None, lambda: str(rng.randint(2, 500))),
        "AMOUNT": (None, lambda: f"${rng.randint(5, 9999)}.{rng.randint(0, 99):02d}"),
    }


DEV = {
    "clinical": [
        "Patient {NAME}, a {AGE}-year-old, was admitted on {DATE}. DOB: {DOB}. MRN: {MRN}. Vitals: {VITALS}.",
        "{NAME} (NHS number {NHS}) reports chest pain for {DURATION}. Started {DOSE} twice daily.",
        "Discharge summary: {NAME}, aged {AGE}, room {HOUSE}. Follow-up on {DATE}. Contact {PHONE}.",
        "Medical record number {MRN}; patient lives at {ADDRESS}. Next of kin phone {PHONE}.",
        "Lab result for {NAME} received {TS}; HbA1c 6.{NUM}%. Repeat in {DURATION}.",
        "Referral letter: please see {NAME}, date of birth {DOB}, email {EMAIL}.",
        "Aadhaar {AADHAAR} was verified for the patient; insurance card ends {NUM}.",
        "Nurse note {TS}: {VITALS}. Given {DOSE}. Bed {HOUSE}.",
    ],
    "bank": [
        "Hi, I'm {NAME}. My card {CARD} was declined yesterday, can you check?",
        "Please wire the balance to IBAN {IBAN} by {DATE}.",
        "Customer {NAME} disputes a charge of {AMOUNT} on card ending {NUM}; order {ORDER} was never delivered.",
        "For verification: SSN {SSN}, phone {PHONE}, mailing address {ADDRESS}.",
        "My social security number is {SSN_PLAIN} and my account number is {BANK}.",
        "The card number {BADCARD} keeps failing, is it mistyped? Invoice {INVOICE}.",
        "Transfer from account {BANK} to {IBAN} scheduled for {DATE}.",
        "I sent the refund to my bitcoin wallet {BTC}, tx fee {AMOUNT}.",
        "Please use my ETH address {ETH} for the payout.",
        "Tax form lists ITIN {ITIN}; the SSN field shows {BADSSN}, which the system rejected.",
    ],
    "support": [
        "Ticket from {EMAIL}: login fails since {DATE}. Order {ORDER}, tracking {TRACKING}.",
        "Customer {NAME} called from {PHONE} about invoice {INVOICE}.",
        "Please ship the replacement to {ADDRESS} (zip code {ZIP}).",
        "User reports the app crashed in version {VERSION} on {FILE}; request id {UUID}.",
        "Reset link sent to {EMAIL}; user can also visit {URL}.",
        "Passport number {PASSPORT} and driver's license {DL} were uploaded for KYC.",
        "National Insurance number {NINO} was entered for the UK payroll record.",
        "Vendor PAN {PAN} added to the supplier file for {COMPANY}.",
        "Our office is {HOUSE} floors up; batch {ZIPLIKE} shipped in {DURATION}.",
    ],
    "legal": [
        "This Agreement is entered into on {DATE} between {COMPANY} and {NAME}, residing at {ADDRESS}.",
        "The tenant, {NAME}, shall pay rent to the account {IBAN} no later than {DATE}.",
        "Notices shall be sent to {EMAIL} or by phone to {PHONE}.",
        "Exhibit {NUM} lists the claimant's SSN {SSN} and date of birth {DOB}.",
        "Case {ORDER} was continued for {DURATION}; see filing {FILE}.",
    ],
    "logs": [
        "{TS} INFO login ok user={EMAIL} ip={IPV4} took {NUM}ms",
        "{TS} WARN connection from {IPV6} refused, retry in {NUM}s",
        "{TS} DEBUG device {MAC} joined vlan {NUM} (firmware {VERSION})",
        "{TS} ERROR db connect failed: postgres://svc:{PASSWORD}@db.internal:5432/app",
        "{TS} INFO deploy {HASH} build {VERSION} artifact {FILE} id {UUID}",
        "export AWS_ACCESS_KEY_ID={APIKEY}",
        "{TS} INFO request {UUID} from {IPV4} GET {URL} 200",
        "config: api_key = \"{APIKEY}\"; timeout {DURATION}",
        "Authorization: Bearer {APIKEY}",
    ],
    "prompt": [
        "Summarize this email from {NAME} ({EMAIL}) and draft a reply before {DATE}.",
        "Rewrite the note so it is polite: 'Call {PHONE} about card {CARD}.'",
        "My password is {PASSWORD}, can you tell me if it's strong?",
        "Here is my API token: {TOKEN} - why does the request fail?",
        "Translate to French: I live at {ADDRESS} and was born on {DOB}.",
        "Explain why {FILE} fails to compile after upgrading to {VERSION}.",
        "Check if IBAN {IBAN} and SSN {SSN} are formatted correctly.",
        "What is the server at {IPV4} doing? Its MAC is {MAC}.",
        "The commit {HASH} changed {FILE}; review the diff.",
    ],
}

HELDOUT = {
    "clinical": [
        "Pt seen today. {NAME} is {AGE} years old; d.o.b. {DOB}. {VITALS}.",
        "Hospital chart {MRN} for {NAME}: discharge planned {DATE}, reachable on {PHONE}.",
        "NHS no. {NHS}. Prescribed {DOSE} for {DURATION}.",
        "Home address on file: {ADDRESS}.",
    ],
    "bank": [
        "Could you refund the charge on my Visa {CARD}? It was {AMOUNT}.",
        "Beneficiary IBAN: {IBAN}. Reference {INVOICE}.",
        "I think someone used my credit card {CARD} on {DATE}.",
        "Social Security #: {SSN}. Wrong one on the form: {BADSSN}.",
        "Send the crypto to {ETH} or to BTC {BTC}, whichever is cheaper.",
        "Checking account {BANK} at {COMPANY}.",
    ],
    "support": [
        "Hello, it's {NAME} again, my email is {EMAIL} and mobile {PHONE}.",
        "Shipment {TRACKING} for order {ORDER} should go to {ADDRESS}.",
        "The link {URL} returns 404 since {DATE}.",
        "Build {VERSION} of {FILE} crashes; trace id {UUID}, checksum {HASH}.",
        "Please update my postal code to {ZIP}.",
        "Attached: Aadhaar card {AADHAAR}, PAN card {PAN}.",
    ],
    "legal": [
        "Signed at {ADDRESS} on {DATE} by {NAME}.",
        "The defendant's passport {PASSPORT} was surrendered on {DATE}.",
        "Correspondence to {EMAIL}; telephone {PHONE}.",
    ],
    "logs": [
        "[{TS}] client={IPV4} user_email={EMAIL} status=403",
        "[{TS}] peer {IPV6} mac={MAC} up {DURATION}",
        "DATABASE_URL=mysql://admin:{PASSWORD}@10.0.0.5/prod",
        "[{TS}] token={APIKEY} rejected",
    ],
    "prompt": [
        "Please fill the form for {NAME}: phone {PHONE}, SSN {SSN}, card {CARD}.",
        "Is {IPV4} a private address? Also what about {IPV6}?",
        "Write a birthday message for someone born {DOB}.",
        "Format this IBAN for me: {IBAN}",
        "secret token for the webhook is {TOKEN}",
    ],
}

SLOT_RE = re.compile(r"\{([A-Z0-9_]+)\}")


def render(template, gens):
    out, spans, pos = [], [], 0
    length = 0
    for m in SLOT_RE.finditer(template):
        lit = template[pos:m.start()]
        out.append(lit)
        length += len(lit)
        label, gen = gens[m.group(1)]
        value = gen()
        if label:
            spans.append({"start": length, "end": length + len(value), "label": label})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def generate(templates, n, seed, heldout):
    rng = random.Random(seed)
    fake = Faker(["en_US", "en_GB"])
    fake.seed_instance(seed)
    gens = slots(rng, fake, heldout)
    domains = sorted(templates)
    records = []
    for _ in range(n):
        domain = rng.choice(domains)
        text, spans = "", []
        for j in range(rng.choice([1, 1, 2, 3])):
            piece, piece_spans = render(rng.choice(templates[domain]), gens)
            if text:
                text += rng.choice([" ", "\n", " "])
            offset = len(text)
            spans += [{**s, "start": s["start"] + offset, "end": s["end"] + offset} for s in piece_spans]
            text += piece
        records.append({"text": text, "spans": spans})
    return records


def write(path, records):
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    write(os.path.join(HERE, "corpus.jsonl"), generate(DEV, 3000, 20261126, heldout=False))
    write(os.path.join(HERE, "heldout.jsonl"), generate(HELDOUT, 1000, 777, heldout=True))
