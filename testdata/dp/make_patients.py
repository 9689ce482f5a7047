"""Generate testdata/dp/patients.csv: synthetic visits (no real person), fixed seed.

Run: python3 testdata/dp/make_patients.py > testdata/dp/patients.csv
Columns: patient_id (a person may have several visits), city, age, cost.
"""
import random

rng = random.Random(20261126)
cities = ["Paris"] * 6 + ["Lyon"] * 3 + ["Lille"] * 1
print("patient_id,city,age,cost")
for p in range(1500):
    city = rng.choice(cities)
    age = min(99, max(0, int(rng.gauss(47, 18))))
    for _ in range(1 + int(rng.expovariate(0.8))):
        cost = round(rng.lognormvariate(4.5, 0.7), 2)
        print(f"P{p:05d},{city},{age},{cost}")
