"""Regenerate the text seeds (catalog, customer queries, purchases) deterministically.

    python example_project/generate_text_seeds.py

The CSVs are committed, so `predsql build` needs no generation step.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent
CATEGORIES = {
    "kitchen": (["pan", "knife", "kettle", "cutting board", "blender", "mixing bowl", "spatula",
                 "coffee grinder", "teapot", "colander"],
                ["for everyday cooking", "that heats evenly", "easy to clean after dinner",
                 "for baking bread and cakes", "for brewing tea and coffee"]),
    "garden": (["hose", "shovel", "planter", "pruning shears", "watering can", "rake",
                "seed tray", "wheelbarrow", "garden gloves", "compost bin"],
               ["for vegetable beds", "that survives frost and rain", "for pruning roses",
                "for watering flowers on the balcony", "to keep your lawn tidy"]),
    "office": (["desk lamp", "notebook", "stapler", "office chair", "monitor stand",
                "pen set", "filing cabinet", "whiteboard", "desk organizer", "paper shredder"],
               ["for long working days", "that keeps your desk tidy", "for meetings and notes",
                "with an ergonomic design for your back", "for a home office"]),
    "toys": (["puzzle", "building blocks", "teddy bear", "toy car", "board game", "kite",
              "doll house", "train set", "jigsaw", "yo-yo"],
             ["for children aged five and up", "for family game nights",
              "that sparks creativity", "safe for toddlers", "for playing outside in the park"]),
    "outdoor": (["tent", "sleeping bag", "backpack", "camping stove", "headlamp", "hiking poles",
                 "water bottle", "hammock", "cooler box", "folding chair"],
                ["for weekend camping trips", "that is waterproof and light",
                 "for long hikes in the mountains", "for cold nights outdoors",
                 "that packs small for travel"]),
    "electronics": (["headphones", "bluetooth speaker", "phone charger", "keyboard", "mouse",
                     "webcam", "power bank", "smart plug", "usb hub", "e-reader"],
                    ["with long battery life", "with crisp sound and deep bass",
                     "for video calls", "that charges quickly", "for reading at night"]),
    "bath": (["towel", "shower curtain", "bath mat", "soap dispenser", "toothbrush holder",
              "bathrobe", "shaving mirror", "laundry basket", "hair dryer", "scale"],
             ["that is soft and absorbent", "for a small bathroom", "that dries quickly",
              "for a relaxing spa evening", "easy to wipe clean"]),
    "pet": (["dog bed", "cat tree", "leash", "pet bowl", "chew toy", "litter box",
             "bird cage", "aquarium filter", "pet carrier", "grooming brush"],
            ["for large dogs", "that cats love to scratch", "for daily walks",
             "easy to wash", "for travelling with your pet"]),
}
ADJECTIVES = ["compact", "sturdy", "lightweight", "premium", "classic", "modern", "durable",
              "colorful", "foldable", "eco-friendly"]
MATERIALS = ["bamboo", "steel", "cotton", "plastic", "oak", "ceramic", "aluminium", "linen"]
QUERIES = ["looking for a {adj} {noun}", "best {noun} {use}", "need a {noun} {use}",
           "gift idea: {adj} {noun}", "cheap {material} {noun}", "{noun} {use}, any tips?"]


def catalog(rng: random.Random) -> list[dict]:
    rows = []
    for category, (nouns, uses) in CATEGORIES.items():
        for i in range(125):
            noun, use = nouns[i % len(nouns)], rng.choice(uses)
            adj, material = rng.choice(ADJECTIVES), rng.choice(MATERIALS)
            rows.append({
                "product_id": len(rows) + 1, "title": f"{adj.title()} {material} {noun}",
                "category": category,
                "description": f"A {adj} {noun} made of {material}, {use}. "
                               f"{rng.choice(['Ships in two days.', 'Two-year warranty.', 'Bestseller this season.', 'Available in three colours.'])}",
            })
    # near-duplicates: the same listing entered twice with small edits (the data test finds them)
    for source in rng.sample(rows, 6):
        rows.append({**source, "product_id": len(rows) + 1,
                     "title": source["title"] + " (new)",
                     "description": source["description"].replace(". ", "! ", 1)})
    return rows


def queries(rng: random.Random, customers: int) -> list[dict]:
    rows = []
    for i in range(1200):
        category = rng.choice(list(CATEGORIES))
        nouns, uses = CATEGORIES[category]
        text = rng.choice(QUERIES).format(adj=rng.choice(ADJECTIVES), noun=rng.choice(nouns),
                                          use=rng.choice(uses), material=rng.choice(MATERIALS))
        rows.append({"query_id": i + 1, "customer_id": rng.randint(1, customers), "query": text})
    return rows


def purchases(rng: random.Random, products: list[dict], customers: int) -> list[dict]:
    by_category: dict[str, list[int]] = {}
    for p in products[:1000]:
        by_category.setdefault(p["category"], []).append(p["product_id"])
    rows = []
    for customer in range(1, customers + 1):
        liked = rng.sample(list(CATEGORIES), 2)
        bought = {rng.choice(by_category[rng.choice(liked)]) for _ in range(rng.randint(3, 8))}
        rows += [{"customer_id": customer, "product_id": p} for p in sorted(bought)]
    return rows


def write(name: str, rows: list[dict]) -> None:
    with (HERE / "seeds" / name).open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    rng = random.Random(13)
    products = catalog(rng)
    write("catalog.csv", products)
    write("customer_queries.csv", queries(rng, 300))
    write("purchases.csv", purchases(rng, products, 300))


if __name__ == "__main__":
    main()
