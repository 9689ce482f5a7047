#!/usr/bin/env python3
"""Write a large mixed-English text file for the detection benchmark (not committed).

    python3 testdata/pii/bench_text.py OUT.txt 64            # about 64 MB, dense
    python3 testdata/pii/bench_text.py OUT.txt 64 sparse     # same, realistic density

Mostly prose (our own filler sentences), with corpus template sentences (clinical notes, bank
chats, support tickets, legal text, logs, LLM prompts) mixed in: about one sensitive value or
hard negative per 150 bytes ("dense", a stress case), or about one per 1,000 bytes
("sparse": 5–9 prose sentences around each template sentence, closer to real chat and documents). A pool of ~2 MB of lines is generated, then lines are drawn from
it at random (fixed seed) until the size is reached.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402

FILLER = [
    "The committee met on Tuesday to review the draft and agreed to circulate it for comment.",
    "Most of the discussion focused on timelines, staffing and the budget for the next quarter.",
    "We should keep the summary short and move the detailed tables into an appendix.",
    "The weather delayed the delivery, but the team made up the time over the weekend.",
    "Please remember to update the shared document before the end of the day.",
    "The new onboarding flow reduced the number of support requests noticeably.",
    "Several customers asked for clearer instructions on how to reset their settings.",
    "The model answered most questions correctly but struggled with the longer prompts.",
    "Our goal is to make the process simpler without losing any of the safeguards.",
    "After lunch the group split into two workshops on design and on testing.",
    "The report recommends a phased rollout, starting with a small pilot group.",
    "She explained the trade-offs carefully and the team chose the simpler option.",
    "It is worth checking the assumptions again before we commit to the plan.",
    "The library was quiet in the morning and busy again by the afternoon.",
    "Everyone agreed that the documentation needs examples that actually run.",
]


def main():
    out, mb = sys.argv[1], float(sys.argv[2])
    sparse = len(sys.argv) > 3 and sys.argv[3] == "sparse"
    rng = random.Random(4242)
    pool = []
    for r in generate.generate(generate.DEV, 4000, 99, heldout=False):
        pool.extend(r["text"].split("\n"))
    target = int(mb * 1_000_000)
    written = 0
    with open(out, "w", encoding="utf-8") as f:
        while written < target:
            parts = [rng.choice(FILLER) for _ in range(rng.randint(5, 9) if sparse else rng.randint(1, 3))]
            parts.insert(rng.randint(0, len(parts)), rng.choice(pool))
            line = " ".join(parts) + "\n"
            f.write(line)
            written += len(line.encode("utf-8"))


if __name__ == "__main__":
    main()
