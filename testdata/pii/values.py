"""Value generators for the labelled PII corpus: every value passes (or, for hard negatives,
deliberately fails) the same public checksum and structure rules that real values obey.

Own code; no third-party templates or corpora. Faker supplies names, cities and companies.
"""
import hashlib
import string

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def luhn_ok(num: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(num)):
        x = int(ch)
        if i % 2 == 1:
            x *= 2
            if x > 9:
                x -= 9
        total += x
    return total % 10 == 0


def luhn_complete(prefix: str, length: int, rng) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for d in string.digits:
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("unreachable")


CARD_ISSUERS = [  # (prefix choices, length, grouping)
    (["4"], 16, (4, 4, 4, 4)),
    (["51", "52", "53", "54", "55", "2221", "2500", "2720"], 16, (4, 4, 4, 4)),
    (["34", "37"], 15, (4, 6, 5)),
    (["6011", "65", "644"], 16, (4, 4, 4, 4)),
    (["3528", "3589"], 16, (4, 4, 4, 4)),
    (["36"], 14, (4, 6, 4)),
]


def group(digits: str, sizes, sep: str) -> str:
    out, i = [], 0
    for s in sizes:
        out.append(digits[i:i + s])
        i += s
    return sep.join(out)


def credit_card(rng, style=None) -> str:
    prefixes, length, grouping = rng.choice(CARD_ISSUERS)
    num = luhn_complete(rng.choice(prefixes), length, rng)
    style = style or rng.choice(["space", "dash", "plain"])
    if style == "plain":
        return num
    return group(num, grouping, " " if style == "space" else "-")


def bad_card(rng) -> str:
    """A 16-digit card-like number that fails Luhn."""
    num = luhn_complete("4", 16, rng)
    last = (int(num[-1]) + rng.randint(1, 9)) % 10
    num = num[:-1] + str(last)
    return group(num, (4, 4, 4, 4), rng.choice([" ", "-"]))


def ssn(rng, style="dash") -> str:
    area = rng.choice([a for a in range(1, 900) if a != 666])
    g, s = rng.randint(1, 99), rng.randint(1, 9999)
    d = f"{area:03d}{g:02d}{s:04d}"
    if d == "123456789":
        return ssn(rng, style)
    return {"dash": f"{d[:3]}-{d[3:5]}-{d[5:]}", "space": f"{d[:3]} {d[3:5]} {d[5:]}", "plain": d}[style]


def bad_ssn(rng) -> str:
    area = rng.choice([0, 666, rng.randint(900, 999)])
    g = rng.randint(1, 99) if area >= 900 and rng.random() < 0.5 else rng.randint(1, 99)
    if area >= 900:
        g = rng.choice([10, 20, 30, 40, 45, 69, 89, 93])  # never an ITIN group
    return f"{area:03d}-{g:02d}-{rng.randint(1, 9999):04d}"


def itin(rng) -> str:
    g = rng.choice(list(range(70, 89)) + list(range(50, 66)))
    return f"9{rng.randint(0, 99):02d}-{g:02d}-{rng.randint(1, 9999):04d}"


IBAN_FORMATS = {  # country: BBAN layout (n digits, a upper letters, c alnum)
    "DE": "18n", "GB": "4a14n", "NL": "4a10n", "ES": "20n", "FR": "10n11n2n",
    "IT": "1a10n12n", "CH": "5n12n", "BE": "12n", "PL": "24n", "AT": "16n",
}


def _bban(layout: str, rng) -> str:
    out, num = [], ""
    for ch in layout:
        if ch.isdigit():
            num += ch
            continue
        n = int(num)
        num = ""
        pool = string.digits if ch == "n" else string.ascii_uppercase if ch == "a" else string.digits + string.ascii_uppercase
        out.append("".join(rng.choice(pool) for _ in range(n)))
    return "".join(out)


def _iban_check(country: str, bban: str) -> str:
    moved = bban + country + "00"
    numeric = "".join(str(int(c, 36)) for c in moved)
    return f"{98 - int(numeric) % 97:02d}"


def iban(rng, grouped=None) -> str:
    country = rng.choice(sorted(IBAN_FORMATS))
    bban = _bban(IBAN_FORMATS[country], rng)
    value = country + _iban_check(country, bban) + bban
    grouped = rng.random() < 0.5 if grouped is None else grouped
    return " ".join(value[i:i + 4] for i in range(0, len(value), 4)) if grouped else value


def nhs(rng, style=None) -> str:
    while True:
        d = [rng.randint(0, 9) for _ in range(9)]
        if d[0] == 0:
            continue
        c = 11 - sum(x * (10 - i) for i, x in enumerate(d)) % 11
        if c == 10:
            continue
        s = "".join(map(str, d)) + str(0 if c == 11 else c)
        style = style or rng.choice(["space", "space", "plain", "dash"])
        return {"space": f"{s[:3]} {s[3:6]} {s[6:]}", "dash": f"{s[:3]}-{s[3:6]}-{s[6:]}", "plain": s}[style]


VD = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
      [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8], [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
      [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]]
VP = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
      [8, 9, 1, 6, 0, 4, 3, 5, 2, 7], [9, 4, 5, 3, 1, 2, 8, 7, 6, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
      [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8]]
VINV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_digit(num: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(num)):
        c = VD[c][VP[(i + 1) % 8][int(ch)]]
    return str(VINV[c])


def aadhaar(rng, style=None) -> str:
    body = str(rng.randint(2, 9)) + "".join(rng.choice(string.digits) for _ in range(10))
    s = body + verhoeff_digit(body)
    style = style or rng.choice(["space", "space", "plain"])
    return f"{s[:4]} {s[4:8]} {s[8:]}" if style == "space" else s


def bad_aadhaar(rng) -> str:
    good = aadhaar(rng, "plain")
    last = (int(good[-1]) + rng.randint(1, 9)) % 10
    s = good[:-1] + str(last)
    return f"{s[:4]} {s[4:8]} {s[8:]}"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def btc_base58(rng) -> str:
    version = rng.choice([b"\x00", b"\x05"])
    payload = version + bytes(rng.getrandbits(8) for _ in range(20))
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return b58encode(payload + check)


BECH = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        b = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if ((b >> i) & 1) else 0
    return chk


def btc_bech32(rng) -> str:
    prog = bytes(rng.getrandbits(8) for _ in range(20))
    acc, bits, data = 0, 0, [0]
    for b in prog:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            data.append((acc >> bits) & 31)
    if bits:
        data.append((acc << (5 - bits)) & 31)
    hrp = "bc"
    expanded = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
    pm = _polymod(expanded + data + [0] * 6) ^ 1
    check = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH[d] for d in data + check)


# Keccak-256 (the pre-standard padding Ethereum uses; hashlib's sha3_256 differs).
_RC = [0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
       0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
       0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
       0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
       0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
       0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008]
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M = (1 << 64) - 1


def _rol(x, n):
    return ((x << n) | (x >> (64 - n))) & _M if n else x


def _keccak_f(a):
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        a[0][0] ^= rc
    return a


def keccak256(data: bytes) -> bytes:
    rate = 136
    msg = bytearray(data) + b"\x01"
    while len(msg) % rate:
        msg += b"\x00"
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            x, y = i % 5, i // 5
            a[x][y] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        a = _keccak_f(a)
    out = b""
    for i in range(4):
        out += a[i % 5][i // 5].to_bytes(8, "little")
    return out


def eip55(hex40: str) -> str:
    h = keccak256(hex40.lower().encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(hex40.lower()))


assert eip55("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed") == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def eth(rng) -> str:
    return eip55("".join(rng.choice("0123456789abcdef") for _ in range(40)))


def ipv4(rng) -> str:
    first = rng.choice([10, 172, 192, 34, 52, 81, 151, 203, 45])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def ipv6(rng) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    groups[0] = rng.choice(["2001", "2a02", "fe80", "2606"])
    if rng.random() < 0.5:
        groups[1] = "db8" if groups[0] == "2001" else groups[1]
        i = rng.randint(2, 5)
        return ":".join(groups[:i]) + "::" + ":".join(groups[i + 2:])
    return ":".join(groups)


def mac(rng) -> str:
    sep = rng.choice([":", "-"])
    octets = [f"{rng.randint(0, 255):02X}" for _ in range(6)]
    if rng.random() < 0.5:
        octets = [o.lower() for o in octets]
    return sep.join(octets)


def nanp(rng):
    return rng.randint(2, 9) * 100 + rng.randint(0, 99), rng.randint(2, 9) * 100 + rng.randint(0, 99), rng.randint(0, 9999)


def phone(rng, styles=None) -> str:
    a, e, l = nanp(rng)
    styles = styles or ["paren", "dash", "dot", "intl_us", "uk_intl", "uk_nat", "de_intl", "in_intl", "fr_intl", "ext"]
    s = rng.choice(styles)
    if s == "paren":
        return f"({a}) {e}-{l:04d}"
    if s == "dash":
        return f"{a}-{e}-{l:04d}"
    if s == "dot":
        return f"{a}.{e}.{l:04d}"
    if s == "intl_us":
        return f"+1 {a} {e} {l:04d}" if rng.random() < 0.5 else f"+1-{a}-{e}-{l:04d}"
    if s == "uk_intl":
        return f"+44 20 {rng.randint(7000, 8999)} {rng.randint(0, 9999):04d}" if rng.random() < 0.5 else f"+44 7700 {rng.randint(900000, 900999)}"
    if s == "uk_nat":
        return f"020 {rng.randint(7000, 8999)} {rng.randint(0, 9999):04d}" if rng.random() < 0.5 else f"07700 {rng.randint(900000, 900999)}"
    if s == "de_intl":
        return f"+49 30 {rng.randint(1000000, 99999999)}"
    if s == "in_intl":
        return f"+91 {rng.randint(70000, 99999)} {rng.randint(10000, 99999)}"
    if s == "fr_intl":
        return "+33 " + str(rng.randint(1, 7)) + " " + " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
    if s == "ext":
        return f"({a}) {e}-{l:04d} ext. {rng.randint(10, 9999)}"
    raise ValueError(s)


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


def date(rng, styles=None) -> str:
    y, m, d = rng.randint(1940, 2025), rng.randint(1, 12), rng.randint(1, 28)
    styles = styles or ["iso", "us", "eu_dot", "long", "long_dmy", "short_mon", "iso_ts", "us_time"]
    s = rng.choice(styles)
    return {
        "iso": f"{y}-{m:02d}-{d:02d}",
        "us": f"{m:02d}/{d:02d}/{y}",
        "eu_dot": f"{d:02d}.{m:02d}.{y}",
        "eu_slash": f"{d}/{m}/{y}",
        "long": f"{MONTHS[m - 1]} {d}, {y}",
        "long_dmy": f"{d} {MONTHS[m - 1]} {y}",
        "short_mon": f"{MONTHS[m - 1][:3]} {d}, {y}",
        "iso_ts": f"{y}-{m:02d}-{d:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z",
        "log_ts": f"{y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        "us_time": f"{m}/{d}/{y} {rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(['AM', 'PM'])}",
        "ordinal": f"{d}{'th' if 4 <= d <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')} of {MONTHS[m - 1]} {y}",
        "month_year": f"{MONTHS[m - 1]} {y}",
    }[s]


STREETS = ["Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lincoln", "Jefferson", "Park", "Lake", "Hill",
           "Sunset", "Highland", "Madison", "Franklin", "Church", "Mill", "River", "Spring", "Chestnut", "5th", "3rd",
           "Main", "Walnut", "Willow", "Forest", "Meadow", "Harbor", "Union", "Prospect"]
SUFFIXES = ["Street", "St.", "Avenue", "Ave", "Road", "Rd.", "Boulevard", "Lane", "Drive", "Court", "Place", "Way", "Terrace"]
STATES = ["CA", "NY", "TX", "IL", "WA", "MA", "OR", "CO", "GA", "PA", "OH", "MI", "NC", "FL", "AZ"]
US_CITIES = ["Springfield", "Portland", "Austin", "Denver", "Boston", "Seattle", "Columbus", "Fairview", "Madison",
             "Riverside", "Salem", "Georgetown", "Franklin", "Clinton", "Oakland", "San Diego", "New Haven", "Ann Arbor"]
UK_PLACES = [("London", "NW1 6XE"), ("Leeds", "LS1 4AP"), ("Bristol", "BS1 5TR"), ("Manchester", "M1 1AE"), ("York", "YO1 7HH")]
DE_STREETS = ["Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße", "Lindenallee", "Marktplatz", "Goethestraße"]
DE_CITIES = [("10115", "Berlin"), ("80331", "München"), ("50667", "Köln"), ("20095", "Hamburg"), ("60311", "Frankfurt")]
FR_STREETS = ["rue de la Paix", "avenue des Champs", "boulevard Saint-Michel", "rue Victor Hugo", "place de la République"]
FR_CITIES = [("75002", "Paris"), ("69001", "Lyon"), ("13001", "Marseille"), ("31000", "Toulouse")]


def address(rng, styles=None) -> str:
    styles = styles or ["us_full", "us_full", "us_apt", "us_street", "uk", "de", "fr"]
    s = rng.choice(styles)
    num = rng.randint(1, 9999)
    street = f"{rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
    city = f"{rng.choice(US_CITIES)}, {rng.choice(STATES)} {rng.randint(10000, 99999)}"
    if s == "us_full":
        return f"{num} {street}, {city}"
    if s == "us_apt":
        return f"{num} {street}, {rng.choice(['Apt', 'Suite', 'Unit'])} {rng.randint(1, 40)}{rng.choice(['', 'B', 'C'])}, {city}"
    if s == "us_street":
        return f"{num} {street}"
    if s == "uk":
        town, pc = rng.choice(UK_PLACES)
        return f"{rng.randint(1, 300)}{rng.choice(['', 'A', 'B'])} {rng.choice(STREETS)} {rng.choice(['Street', 'Road', 'Lane', 'Close', 'Gardens'])}, {town} {pc}"
    if s == "de":
        plz, town = rng.choice(DE_CITIES)
        return f"{rng.choice(DE_STREETS)} {rng.randint(1, 200)}, {plz} {town}"
    if s == "fr":
        cp, town = rng.choice(FR_CITIES)
        return f"{rng.randint(1, 150)} {rng.choice(FR_STREETS)}, {cp} {town}"
    raise ValueError(s)


def rand(rng, pool, n):
    return "".join(rng.choice(pool) for _ in range(n))


ALNUM = string.ascii_letters + string.digits


def secret(rng, styles=None) -> str:
    styles = styles or ["aws", "github", "stripe", "openai", "jwt", "slack", "google"]
    s = rng.choice(styles)
    if s == "aws":
        return "AKIA" + rand(rng, string.ascii_uppercase + string.digits, 16)
    if s == "github":
        return "ghp_" + rand(rng, ALNUM, 36)
    if s == "stripe":
        return "sk_live_" + rand(rng, ALNUM, 24)
    if s == "openai":
        return "sk-proj-" + rand(rng, ALNUM + "_-", 40)
    if s == "slack":
        return "xoxb-" + rand(rng, string.digits, 11) + "-" + rand(rng, string.digits, 12) + "-" + rand(rng, ALNUM, 24)
    if s == "google":
        return "AIza" + rand(rng, ALNUM + "_-", 35)
    if s == "jwt":
        import base64
        import json as _json
        enc = lambda o: base64.urlsafe_b64encode(_json.dumps(o).encode()).decode().rstrip("=")
        return enc({"alg": "HS256", "typ": "JWT"}) + "." + enc({"sub": rand(rng, string.digits, 8), "iat": rng.randint(1600000000, 1800000000)}) + "." + rand(rng, ALNUM + "_-", 43)
    raise ValueError(s)


def password(rng) -> str:
    return rand(rng, string.ascii_letters, rng.randint(3, 6)) + rand(rng, string.digits, rng.randint(2, 4)) + rng.choice("!#$%&*") + rand(rng, ALNUM, rng.randint(2, 5))


def entropy_token(rng) -> str:
    while True:
        t = rand(rng, ALNUM, rng.randint(28, 40))
        if any(c.islower() for c in t) and any(c.isupper() for c in t) and any(c.isdigit() for c in t):
            return t


def nino(rng) -> str:
    first = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    second = rng.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        second = "A"
    d = rand(rng, string.digits, 6)
    if rng.random() < 0.5:
        return f"{first}{second} {d[:2]} {d[2:4]} {d[4:]} {rng.choice('ABCD')}"
    return f"{first}{second}{d}{rng.choice('ABCD')}"


def pan(rng) -> str:
    return rand(rng, string.ascii_uppercase, 3) + rng.choice("PCHFATBLJG") + rand(rng, string.ascii_uppercase, 1) + rand(rng, string.digits, 4) + rand(rng, string.ascii_uppercase, 1)
