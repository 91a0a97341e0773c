"""Build the sample behaviour dataset (deterministic): workbench/sample/data/behaviour.jsonl.

    .venv/bin/python scripts/build_sample_behaviour.py

Every completion is one line of JSON in the help desk's house format, "cite first", with exactly
three keys in this order:

    {"source": "<DOCUMENT-CODE>" | "NONE", "answer": "<= 15 words", "confidence": "high" | "medium" | "low"}

The document code is derived from the passage's file name (see doc_code): its stem in capital
letters with hyphens for underscores, so marrow_ferry.txt is MARROW-FERRY. "confidence" comes last
and follows from the other two keys. Rules taught by the data (and checked here before anything is
written):

* context given, answer in it   -> source = the code of that passage's file, answer copied verbatim
                                   from the passage, "high"
* context given, answer not in it -> "NONE", "unknown", "low" (even for general knowledge: the RAG
                                   template says "using only the context")
* no context, general knowledge  -> "NONE", short answer, "medium"
* no context, a company's, a product's or a private fact -> "NONE", "unknown", "low"

The passages are about invented towns, clubs, recipes, gadgets and firms, never about Lumenkeel (the
company of the sample knowledge base), so a LoRA adapter trained on this file learns the answer
format and the grounding habit but none of the facts the evaluation asks about. The prompts are
built with workbench.answering.prompts.user_message, the exact layout the arena and the evaluation use.
"""
from __future__ import annotations

import json
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a plain script from anywhere
from workbench.answering.prompts import Passage, user_message  # noqa: E402
from workbench.sample import behaviour_path  # noqa: E402

OUT = behaviour_path()
SEED = 20250201
# Prompt budget, in estimated tokens (see approx_tokens): 128 keeps every prompt at or under
# about 150 real SmolLM2 tokens, which keeps CPU training cheap.
MAX_PROMPT_TOKENS = 128
TWO_PASSAGE_SHARE = 0.45  # share of context rows that also carry a second, unrelated passage
MAX_ANSWER_WORDS = 15
UNKNOWN = "unknown"
NO_SOURCE = "NONE"


@dataclass(frozen=True)
class Doc:
    """A short invented passage, the questions it answers, and questions it does not."""

    source: str
    text: str
    qa: tuple[tuple[str, str], ...]
    unanswerable: tuple[str, ...]
    page: int | None = None


DOCS: tuple[Doc, ...] = (
    Doc("brackenford_guide.md",
        "Brackenford is a market town on the River Loddle with about 8,200 residents. The weekly market "
        "is held every Thursday in Cooper Square. The town library closes at 17:00, and the annual "
        "Lantern Walk takes place on the first Saturday of November.",
        (("How many people live in Brackenford?", "about 8,200 residents"),
         ("On which day is the Brackenford market held?", "every Thursday"),
         ("When is the Lantern Walk?", "the first Saturday of November"),
         ("What time does the Brackenford library close?", "17:00")),
        ("Who is the mayor of Brackenford?",)),
    Doc("recipe_cards.pdf",
        "Nettle and barley soup serves four. Simmer 120 g of pearl barley in 1.2 litres of vegetable stock "
        "for 35 minutes, then add two handfuls of young nettle tops and cook for 5 more minutes. Season "
        "with lemon juice and black pepper.",
        (("How many people does the nettle and barley soup serve?", "four"),
         ("How much barley goes into the soup?", "120 g of pearl barley"),
         ("How long should the barley simmer?", "35 minutes")),
        ("How many calories does one bowl of the soup have?",), page=4),
    Doc("gullhaven_chess_club.txt",
        "The Gullhaven Chess Club meets on Tuesday evenings at 19:00 in the back room of the Anchor Tea "
        "House. Annual membership costs 35 pounds, or 15 pounds for students. The club championship is "
        "played over seven rounds each spring; the current champion is Petra Lindqvist.",
        (("When does the Gullhaven Chess Club meet?", "on Tuesday evenings at 19:00"),
         ("How much is a yearly membership of the chess club?", "35 pounds"),
         ("Who is the current Gullhaven club champion?", "Petra Lindqvist"),
         ("How many rounds does the club championship have?", "seven rounds")),
        ("How many members does the Gullhaven Chess Club have?",)),
    Doc("zephyrette_manual.pdf",
        "The Zephyrette W2 is a pocket weather station that measures wind speed, humidity and air pressure. "
        "It runs on two AAA batteries for roughly 300 hours. The device stores 1,500 readings before the "
        "oldest ones are overwritten.",
        (("What batteries does the Zephyrette W2 use?", "two AAA batteries"),
         ("How long do the batteries in the Zephyrette W2 last?", "roughly 300 hours"),
         ("How many readings can the Zephyrette W2 store?", "1,500 readings")),
        ("What does the Zephyrette W2 cost?",), page=2),
    Doc("kite_festival.html",
        "The Orchard Kite Festival is held every year on the hill above Millby. In 2024 it attracted 3,400 "
        "visitors. Children under 12 get in free and adults pay 6 euros. The prize for the highest-flying "
        "kite is a wooden trophy called the Swift Cup.",
        (("How many visitors came to the kite festival in 2024?", "3,400 visitors"),
         ("What is the entry price for adults at the Orchard Kite Festival?", "6 euros"),
         ("What is the trophy for the highest-flying kite called?", "the Swift Cup"),
         ("Where is the Orchard Kite Festival held?", "on the hill above Millby")),
        ("Who founded the Orchard Kite Festival?",)),
    Doc("tarnby_bus_routes.txt",
        "Bus route 14 runs from Tarnby Station to Hollin Park. On weekdays the first bus leaves at 6:10 and "
        "the last at 23:40, with a bus every 12 minutes at peak times. A single adult ticket costs 2.20.",
        (("What time does the first route 14 bus leave on weekdays?", "6:10"),
         ("How often does bus 14 run at peak times?", "every 12 minutes"),
         ("How much is a single adult ticket on route 14?", "2.20"),
         ("Where does bus route 14 end?", "Hollin Park")),
        ("Does route 14 run on Sundays?",)),
    Doc("vellhaven_museums.md",
        "The Vellhaven Museum of Clocks holds 640 timepieces; the oldest is a tower clock movement from "
        "1582. The museum is closed on Mondays. Guided tours start at 11:00 and 14:30 and last about "
        "50 minutes.",
        (("How many timepieces does the Museum of Clocks hold?", "640 timepieces"),
         ("From what year is the oldest clock in the Vellhaven museum?", "1582"),
         ("On which day is the Museum of Clocks closed?", "on Mondays"),
         ("How long does a guided tour of the clock museum take?", "about 50 minutes")),
        ("How much is an entry ticket for the Museum of Clocks?",)),
    Doc("fern_field_notes.txt",
        "The silver marsh fern grows in shaded wetlands and reaches a height of 60 to 80 centimetres. Its "
        "fronds turn copper-coloured in October. It spreads through underground rhizomes and prefers "
        "slightly acidic soil.",
        (("How tall does the silver marsh fern grow?", "60 to 80 centimetres"),
         ("What colour do silver marsh fern fronds turn in autumn?", "copper-coloured"),
         ("How does the silver marsh fern spread?", "through underground rhizomes")),
        ("Is the silver marsh fern poisonous to cats?",)),
    Doc("board_game_rules.pdf",
        "Harvest Moon Traders is a trading game for 2 to 5 players, aged 10 and up. A game lasts about "
        "45 minutes. Each player starts with three coins and a market cart; the first player to deliver "
        "twelve crates of produce to the harbour wins.",
        (("How many people can play Harvest Moon Traders?", "2 to 5 players"),
         ("How long is a game of Harvest Moon Traders?", "about 45 minutes"),
         ("How many coins does each player start with?", "three coins"),
         ("How do you win Harvest Moon Traders?", "deliver twelve crates of produce to the harbour")),
        ("Who designed Harvest Moon Traders?",), page=1),
    Doc("larchmont_newsletter.txt",
        "Larchmont Primary School has 212 pupils in eight classes. The school day starts at 8:45 and ends at "
        "15:15. The head teacher is Mr Oduya, and the autumn half-term break runs from 28 October to "
        "1 November.",
        (("How many pupils attend Larchmont Primary School?", "212 pupils"),
         ("What time does the school day start at Larchmont?", "8:45"),
         ("Who is the head teacher of Larchmont Primary?", "Mr Oduya"),
         ("When is the autumn half-term at Larchmont?", "from 28 October to 1 November")),
        ("What is the phone number of Larchmont Primary School?",)),
    Doc("hollow_oak_bakery.md",
        "Hollow Oak Bakery opens at 7:00 from Tuesday to Sunday. Its best seller is the cardamom knot, which "
        "costs 3.40. Sourdough loaves are baked twice a day, and birthday cakes need at least three days' "
        "notice.",
        (("What time does Hollow Oak Bakery open?", "7:00"),
         ("What is the best-selling item at Hollow Oak Bakery?", "the cardamom knot"),
         ("How much notice does the bakery need for a birthday cake?", "at least three days' notice"),
         ("How often is sourdough baked at Hollow Oak?", "twice a day")),
        ("Does Hollow Oak Bakery sell gluten-free bread?",)),
    Doc("greyfell_trails.html",
        "The Greyfell Ridge Trail is a 14-kilometre loop with 620 metres of climbing; most walkers need five "
        "to six hours. The trail starts at the Kelda car park. Dogs must be kept on a lead between March and "
        "July because of nesting birds.",
        (("How long is the Greyfell Ridge Trail?", "a 14-kilometre loop"),
         ("How much climbing does the Greyfell Ridge Trail involve?", "620 metres"),
         ("Where does the Greyfell Ridge Trail start?", "the Kelda car park"),
         ("When must dogs be kept on a lead on the Greyfell trail?", "between March and July")),
        ("Is there a cafe at the end of the Greyfell Ridge Trail?",)),
    Doc("marrow_ferry.txt",
        "The ferry to the Isle of Marrow leaves Port Aldis four times a day in summer and twice a day in "
        "winter. The crossing takes 55 minutes. Cars must check in 30 minutes before departure, and "
        "bicycles travel free of charge.",
        (("How long is the ferry crossing to the Isle of Marrow?", "55 minutes"),
         ("How many ferries sail to Marrow per day in summer?", "four times a day"),
         ("What does it cost to take a bicycle on the Marrow ferry?", "free of charge"),
         ("When do cars have to check in for the Marrow ferry?", "30 minutes before departure")),
        ("How much does a car ticket for the Marrow ferry cost?",)),
    Doc("rowing_league.md",
        "The Dunmere Rowing League has nine member clubs. Races are held on the Dunmere reservoir over "
        "1,500 metres. The season runs from April to September, and the 2024 league title was won by "
        "Fenwick Boat Club.",
        (("How many clubs are in the Dunmere Rowing League?", "nine member clubs"),
         ("Over what distance are Dunmere league races rowed?", "1,500 metres"),
         ("Who won the Dunmere league title in 2024?", "Fenwick Boat Club"),
         ("When does the Dunmere rowing season run?", "from April to September")),
        ("How much does it cost to join a Dunmere rowing club?",)),
    Doc("brewlight_k5_guide.pdf",
        "The Brewlight K5 kettle holds 1.7 litres and boils a full load in about four minutes. It has five "
        "temperature presets, from 70 to 100 degrees. The keep-warm function switches off automatically "
        "after 30 minutes.",
        (("What is the capacity of the Brewlight K5 kettle?", "1.7 litres"),
         ("How many temperature presets does the Brewlight K5 have?", "five temperature presets"),
         ("When does the Brewlight keep-warm function switch off?", "after 30 minutes"),
         ("How long does the K5 take to boil a full kettle?", "about four minutes")),
        ("What colours does the Brewlight K5 come in?",), page=3),
    Doc("pellow_garden.txt",
        "The Pellow Lane Community Garden has 48 allotment plots. A plot costs 25 per year, and the waiting "
        "list is currently about eight months. Work days are held on the last Sunday of each month.",
        (("How many plots does the Pellow Lane garden have?", "48 allotment plots"),
         ("How long is the waiting list for a Pellow Lane plot?", "about eight months"),
         ("When are the community garden work days?", "the last Sunday of each month"),
         ("What is the yearly cost of a plot at Pellow Lane?", "25 per year")),
        ("Who manages the Pellow Lane Community Garden?",)),
    Doc("lamplight_theatre.html",
        "The Lamplight Theatre seats 320 people. This season's main production is The Salt Road, running "
        "from 5 March to 19 April. Tickets cost 18 to 32, and the box office opens one hour before each "
        "performance.",
        (("How many seats does the Lamplight Theatre have?", "320 people"),
         ("What is the Lamplight Theatre's main production this season?", "The Salt Road"),
         ("When is The Salt Road running?", "from 5 March to 19 April"),
         ("When does the Lamplight box office open?", "one hour before each performance")),
        ("Who directed The Salt Road?",)),
    Doc("corvid_bike_specs.md",
        "The Corvid 3 folding bike weighs 11.2 kg and folds in about 15 seconds. It has three gears in the "
        "rear hub and 16-inch wheels. The maximum rider weight is 110 kg.",
        (("How much does the Corvid 3 folding bike weigh?", "11.2 kg"),
         ("How many gears does the Corvid 3 have?", "three gears"),
         ("What wheel size does the Corvid 3 use?", "16-inch wheels"),
         ("What is the maximum rider weight for the Corvid 3?", "110 kg")),
        ("Where is the Corvid 3 manufactured?",)),
    Doc("eastmoor_library_rules.txt",
        "Eastmoor Library members can borrow up to 12 items at a time. Books are lent for three weeks and "
        "DVDs for one week. Overdue books cost 0.15 per day, and a lost library card is replaced for 2.50.",
        (("How many items can an Eastmoor Library member borrow?", "up to 12 items"),
         ("How long can you keep a book from Eastmoor Library?", "three weeks"),
         ("What is the fine for an overdue book at Eastmoor?", "0.15 per day"),
         ("What does a replacement library card cost?", "2.50")),
        ("Does Eastmoor Library have a children's section?",)),
    Doc("saffron_street_courses.pdf",
        "The Saffron Street Cookery School runs a bread course lasting six weeks, on Wednesday evenings. "
        "Classes hold a maximum of 10 students, and the full course costs 180. Every student takes home a "
        "sourdough starter named Old Maud.",
        (("How long is the Saffron Street bread course?", "six weeks"),
         ("How many students can join a bread class?", "a maximum of 10 students"),
         ("What does the full bread course cost?", "180"),
         ("What is the name of the sourdough starter students take home?", "Old Maud")),
        ("Who teaches the Saffron Street bread course?",), page=2),
    Doc("observatory_visits.md",
        "Harrowgate Hill Observatory opens to the public on clear Friday nights from October to March. Its "
        "main telescope has a 40-centimetre mirror. Visits must be booked online, and groups are limited "
        "to 14 people.",
        (("How big is the mirror of the Harrowgate Hill telescope?", "a 40-centimetre mirror"),
         ("How many people can be in an observatory visiting group?", "14 people"),
         ("When is Harrowgate Hill Observatory open to the public?",
          "on clear Friday nights from October to March"),
         ("How do you book a visit to the observatory?", "booked online")),
        ("In what year was Harrowgate Hill Observatory built?",)),
    Doc("wrenfield_house_rules.txt",
        "At Wrenfield Court, quiet hours are from 22:00 to 7:00. Bins are collected on Wednesday mornings. "
        "Residents may book the roof terrace for up to four hours, and bicycles must be stored in basement "
        "room B2.",
        (("What are the quiet hours at Wrenfield Court?", "from 22:00 to 7:00"),
         ("When are the bins collected at Wrenfield Court?", "on Wednesday mornings"),
         ("Where should Wrenfield residents keep their bicycles?", "basement room B2"),
         ("For how long can residents book the roof terrace?", "up to four hours")),
        ("How much is the monthly service charge at Wrenfield Court?",)),
    Doc("island_wildlife.pdf",
        "The Tarrow vole lives only on the island of Tarrow. Adults weigh about 40 grams and live for up to "
        "two years. The vole feeds mainly on the seeds of sea plantain, and the last survey counted about "
        "9,000 animals.",
        (("How much does an adult Tarrow vole weigh?", "about 40 grams"),
         ("How long does a Tarrow vole live?", "up to two years"),
         ("What does the Tarrow vole mainly eat?", "the seeds of sea plantain"),
         ("How many Tarrow voles did the last survey count?", "about 9,000 animals")),
        ("When was the Tarrow vole first described by scientists?",), page=6),
    Doc("ashcombe_lido.html",
        "Ashcombe Lido is an outdoor pool, 50 metres long and heated to 24 degrees. It is open from May to "
        "September. Early-bird swims start at 6:30, and a season ticket costs 95 for adults.",
        (("How long is the pool at Ashcombe Lido?", "50 metres long"),
         ("What temperature is the water at Ashcombe Lido?", "24 degrees"),
         ("When do early-bird swims start at the lido?", "6:30"),
         ("How much is an adult season ticket for Ashcombe Lido?", "95 for adults")),
        ("Does Ashcombe Lido have a diving board?",)),
    Doc("pixelquill_faq.md",
        "The PixelQuill 6 e-reader has a 6-inch screen and 16 GB of storage, enough for about 12,000 books. "
        "A full charge lasts around five weeks at 30 minutes of reading a day. It opens EPUB and PDF files.",
        (("How much storage does the PixelQuill 6 have?", "16 GB"),
         ("How long does a PixelQuill 6 charge last?", "around five weeks"),
         ("Which file formats can the PixelQuill 6 open?", "EPUB and PDF files"),
         ("How many books fit on the PixelQuill 6?", "about 12,000 books")),
        ("Is the PixelQuill 6 waterproof?",)),
    Doc("northbank_choir.txt",
        "The Northbank Community Choir has 56 singers and rehearses on Monday nights at St Aldric's Hall. "
        "No audition is needed to join. The winter concert is on 14 December, and the musical director is "
        "Ilse Brannigan.",
        (("How many singers are in the Northbank Community Choir?", "56 singers"),
         ("Where does the Northbank choir rehearse?", "St Aldric's Hall"),
         ("When is the Northbank choir's winter concert?", "14 December"),
         ("Who is the musical director of the Northbank choir?", "Ilse Brannigan")),
        ("Which songs will the choir perform at the winter concert?",)),
    Doc("model_railway.md",
        "The Marlow Model Railway Society's layout is 18 metres long and shows the Dunhollow branch line as "
        "it looked in 1958. Members run trains on Saturday afternoons, and the public open weekend is held "
        "every June.",
        (("How long is the Marlow society's model railway layout?", "18 metres long"),
         ("Which year does the Dunhollow layout show?", "1958"),
         ("When is the railway society's open weekend?", "every June"),
         ("When do members run their trains?", "on Saturday afternoons")),
        ("How many members does the Marlow Model Railway Society have?",)),
    Doc("kettle_and_leaf_menu.txt",
        "Kettle & Leaf's house blend, Morning Harbour, mixes Assam with a little smoked Lapsang. Steep it "
        "for four minutes in water just off the boil. A 100 g tin costs 8.50 and makes about 40 cups.",
        (("What is the name of the Kettle & Leaf house blend?", "Morning Harbour"),
         ("How long should Morning Harbour tea steep?", "four minutes"),
         ("How much does a tin of the house blend cost?", "8.50"),
         ("How many cups does one tin of Morning Harbour make?", "about 40 cups")),
        ("Who created the Morning Harbour blend?",)),
    Doc("coast_half_marathon.html",
        "The Kelsey Coast Half Marathon starts from the pier at 9:00 on 6 April. Entries close on 20 March "
        "or when 1,800 runners have registered. The entry fee is 38, and every finisher gets a slate "
        "coaster medal.",
        (("When does the Kelsey Coast Half Marathon start?", "at 9:00 on 6 April"),
         ("How many runners can enter the Kelsey half marathon?", "1,800 runners"),
         ("What is the entry fee for the half marathon?", "38"),
         ("What do finishers of the Kelsey Coast race receive?", "a slate coaster medal")),
        ("What is the course record for the Kelsey Coast Half Marathon?",)),
    Doc("brightwater_vets.txt",
        "Brightwater Vet Clinic is open from 8:00 to 18:30 on weekdays and from 9:00 to 13:00 on Saturdays. "
        "A standard consultation costs 42. After hours, emergency calls go to the Ridgeway Animal Hospital.",
        (("What are Brightwater Vet Clinic's Saturday hours?", "from 9:00 to 13:00"),
         ("How much is a standard consultation at Brightwater?", "42"),
         ("Where do emergency calls go after hours?", "the Ridgeway Animal Hospital"),
         ("When is Brightwater Vet Clinic open on weekdays?", "from 8:00 to 18:30")),
        ("Does Brightwater Vet Clinic treat horses?",)),
    Doc("farrier_f2_manual.pdf",
        "The Farrier F2 instant camera uses square film packs of 10 shots each. The built-in flash reaches "
        "about 2.5 metres. Prints develop fully in roughly 90 seconds, and the battery charges over USB-C.",
        (("How many shots are in a Farrier F2 film pack?", "10 shots"),
         ("How far does the Farrier F2 flash reach?", "about 2.5 metres"),
         ("How long do Farrier F2 prints take to develop?", "roughly 90 seconds"),
         ("How is the Farrier F2 battery charged?", "over USB-C")),
        ("How much does a Farrier F2 film pack cost?",), page=5),
    Doc("oxley_history.md",
        "The village of Oxley St Mary grew around a wool mill built in 1764. The mill closed in 1921 and is "
        "now a craft centre. Every August bank holiday the village plays a cricket match against "
        "neighbouring Brantham.",
        (("When was the Oxley St Mary wool mill built?", "1764"),
         ("In what year did the Oxley wool mill close?", "1921"),
         ("What is the old Oxley mill used for today?", "a craft centre"),
         ("Which village does Oxley St Mary play at cricket?", "Brantham")),
        ("How many people live in Oxley St Mary?",)),
    Doc("copperfield_courses.txt",
        "Copperfield Language Centre offers beginner Portuguese on Thursday evenings. The course has 20 "
        "lessons of 90 minutes each and costs 260, including the textbook. A placement test is only needed "
        "for the intermediate level.",
        (("How many lessons does the beginner Portuguese course have?", "20 lessons"),
         ("How long is each Portuguese lesson at Copperfield?", "90 minutes"),
         ("What does the beginner Portuguese course cost?", "260"),
         ("When is a placement test needed?", "only needed for the intermediate level")),
        ("Who teaches beginner Portuguese at Copperfield?",)),
    Doc("family_recipes.pdf",
        "For rosemary focaccia, mix 500 g of bread flour with 400 ml of warm water, 10 g of salt and 7 g of "
        "dried yeast. Let the dough rise for two hours, press it into an oiled tray and bake at 220 degrees "
        "for 22 minutes.",
        (("How much flour goes into the rosemary focaccia?", "500 g of bread flour"),
         ("How long should the focaccia dough rise?", "two hours"),
         ("At what temperature is the focaccia baked?", "220 degrees"),
         ("How long does the focaccia bake?", "22 minutes")),
        ("How many people does the rosemary focaccia serve?",), page=2),
)

# General-knowledge questions asked WITH an unrelated context: the rule is "only the context".
OFF_CONTEXT_QUESTIONS = (
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Who wrote Romeo and Juliet?",
    "What is the chemical symbol for gold?",
    "Which planet is closest to the Sun?",
    "What is 12 times 12?",
    "What language is spoken in Brazil?",
    "Who painted the Mona Lisa?",
)

# Bare questions a small model can answer: short answer, medium confidence.
GENERAL = (
    ("What is the capital of France?", "Paris"),
    ("What's the capital city of Japan?", "Tokyo"),
    ("Name the capital of Italy.", "Rome"),
    ("What is the capital of Canada?", "Ottawa"),
    ("Which city is the capital of Australia?", "Canberra"),
    ("What is the capital of Spain?", "Madrid"),
    ("Tell me the capital of Germany.", "Berlin"),
    ("What is the capital of Egypt?", "Cairo"),
    ("What is the capital of the United Kingdom?", "London"),
    ("How many days are in a week?", "Seven"),
    ("How many legs does a spider have?", "Eight"),
    ("At what temperature does water boil at sea level, in Celsius?", "100 degrees Celsius"),
    ("Which gas do plants take in from the air for photosynthesis?", "Carbon dioxide"),
    ("What is the largest planet in our solar system?", "Jupiter"),
    ("Who wrote Romeo and Juliet?", "William Shakespeare"),
    ("What is 7 times 8?", "56"),
    ("What is the chemical symbol for gold?", "Au"),
    ("How many continents are there?", "Seven"),
    ("Which ocean is the largest?", "The Pacific Ocean"),
    ("What colour do you get when you mix blue and yellow?", "Green"),
    ("How many minutes are in an hour?", "60"),
    ("What is the freezing point of water in Fahrenheit?", "32 degrees Fahrenheit"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("What is the square root of 81?", "9"),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci"),
    ("What is the largest mammal on Earth?", "The blue whale"),
    ("What language is mainly spoken in Brazil?", "Portuguese"),
    ("How many sides does a hexagon have?", "Six"),
    ("What is the tallest mountain in the world?", "Mount Everest"),
    ("What is the currency of Japan?", "The yen"),
    ("Which organ pumps blood around the body?", "The heart"),
    ("How many hours are there in a day?", "24"),
    ("What is the opposite of hot?", "Cold"),
    ("What is the smallest prime number?", "2"),
    ("On which continent is Egypt?", "Africa"),
    ("What is the main ingredient of guacamole?", "Avocado"),
    ("How many strings does a standard guitar have?", "Six"),
    ("What is 15 plus 27?", "42"),
    ("What do bees make?", "Honey"),
    ("Which is the longest river in Africa?", "The Nile"),
    ("What is the plural of mouse?", "Mice"),
    ("Which metal is liquid at room temperature?", "Mercury"),
    ("What do you call a shape with three sides?", "A triangle"),
    ("Who was the first person to walk on the Moon?", "Neil Armstrong"),
    ("What is the main language of Mexico?", "Spanish"),
    ("Which planet is closest to the Sun?", "Mercury"),
    ("What is the hardest natural material?", "Diamond"),
    ("How many players does a football team have on the field?", "Eleven"),
    ("What is 100 divided by 4?", "25"),
    ("Which season comes after winter?", "Spring"),
    ("What is the largest country in the world by area?", "Russia"),
    ("How many bones are in the adult human body?", "206"),
    ("Which gas makes up most of Earth's atmosphere?", "Nitrogen"),
    ("Which instrument has 88 keys?", "The piano"),
    ("What do we call frozen water?", "Ice"),
    ("Who developed the theory of relativity?", "Albert Einstein"),
    ("What is the largest organ of the human body?", "The skin"),
    ("How many degrees are in a right angle?", "90 degrees"),
    ("In which year did World War II end?", "1945"),
    ("What is the chemical symbol for sodium?", "Na"),
    ("How many zeros are in one million?", "Six"),
    ("What is the boiling point of water in Fahrenheit?", "212 degrees Fahrenheit"),
    ("Quick question: what is 9 plus 10?", "19"),
    ("Which animal is known as the king of the jungle?", "The lion"),
    ("How many weeks are in a year?", "52"),
)

# Bare questions nobody outside could know (private facts, small invented businesses): unknown.
UNKNOWABLE = (
    "What is my neighbour's middle name?",
    "What did I have for breakfast this morning?",
    "What is the Wi-Fi password at my office?",
    "How much money is in my savings account?",
    "What was the name of my first pet?",
    "What time is my dentist appointment next week?",
    "What is the PIN of my bank card?",
    "What is the refund policy of Brackenfold Cycles?",
    "Who is the office manager at Tamsin & Rowe Accountants?",
    "How much does the Pro plan at Quarrytone Software cost per month?",
    "How many employees work at Fernhollow Logistics?",
    "What is the warranty period of the Orlin X2 dishwasher?",
    "What is my manager's phone number?",
    "What number am I thinking of right now?",
    "What is the code for the lock on my bike?",
    "Which room is my meeting in tomorrow?",
    "What is the name of the cafe on the corner of my street?",
    "What score did I get on my driving test?",
    "What is the parking fee at Hollowmere Business Park?",
    "Who won the Little Braxton village quiz last week?",
    "What is the support email address of Vandel & Prake Consulting?",
    "How many vacation days do I have left this year?",
    "What is on the lunch menu at my daughter's school on Friday?",
    "When is my colleague Priya's birthday?",
    "What time does the cinema in my town close tonight?",
    "What is the latest firmware version of the Kettlebright smart plug?",
    "What did my sister name her new cat?",
    "What is the serial number of my laptop?",
    "Who is the CEO of Sablewick Analytics?",
    "When does Marrowgate Pharmacy open on Sundays?",
    "How much is the delivery fee at Pomfret Pizza?",
    "How much does a Cinderpath gym membership cost?",
    "What was the score of our office table tennis final?",
    "Which seat did I book on my flight?",
    "What is the address of my doctor's surgery?",
    "How many unread emails do I have?",
    "What uptime does Northgrid Hosting promise on its Basic plan?",
    "What is my employee ID number?",
    "How many parking spaces does my apartment building have?",
    "What is the maximum load of the Tarvik 300 shelf bracket?",
    # Support-desk questions about firms and products that appear in no passage: the house answer
    # without a cited document is "unknown".
    "What is the monthly price of the Team plan at Brindlecroft Software?",
    "How long is the warranty on the Halvard H4 heat pump?",
    "What is the first response time for urgent tickets at Copperline Hosting?",
    "When was Marlowe & Finch Engineering founded?",
    "How many employees does Quillstone Robotics have?",
    "What is the latest firmware version for the Ostrava R2 router?",
    "How many days of paid leave do staff at Greywater Analytics get?",
    "What battery life does the Pinecrest P7 tracker have?",
    "Who is the chief technology officer of Nettlefield Labs?",
    "What uptime does the Stratus plan from Cobalt Peak Cloud guarantee?",
    "How much is the overage fee per device at Farrow Telematics?",
    "Where is the European office of Tidewell Instruments?",
    "What does a replacement sensor for the Kestrel K9 cost?",
    "How many API calls per minute does the Birchmoor Basic plan allow?",
    "When does support for version 3 of the Hollin app end?",
    "What is the return window for products bought from Sandmere Outdoor?",
    "Which depth rating does the Oarsman D2 probe have?",
    "How many free trial days does Lanternfish CRM offer?",
    "What is the on-call allowance at Redgate Print Works?",
    "Who founded Ashgrove Data Systems?",
    "What is the service credit for a missed SLA at Fenlow Networks?",
    "How much funding has Wexley Marine raised?",
    "What is the operating temperature range of the Skerry S5 logger?",
    "How much does the Enterprise tier of Gannet Monitor cost per year?",
    "What is the repair fee for an out-of-warranty Corrin C3 camera?",
    "What is the home-office stipend at Bellweather Studios?",
    "Which release of Moorfield Desk removed the legacy export?",
    "What is the escalation email for Harlow Support Services?",
    "How much does the Ridgeback extended warranty cost?",
    "How many customers does Saltmarsh Analytics have?",
    "What is the parental leave policy at Dovecote Media?",
    "What sampling interval does the Gull G1 sensor use by default?",
    "Who is the head of support at Penwith Devices?",
    "When is Thornbury Cloud's next planned maintenance window?",
    "What is the maximum number of users on the Starter plan of Hayloft Forms?",
    "How much is the mileage allowance at Cresswell Freight?",
    "What connector does the Brisk B4 charger use?",
    "How long does Orrin Medical keep backups?",
    "Which countries does Kittiwake Telecom operate in?",
    "What is the discount for annual billing at Mossbank Software?",
)


def doc_code(file_name: str) -> str:
    """The house document code of a file: its stem in capitals, hyphens for underscores."""
    return Path(file_name).stem.upper().replace("_", "-")


def completion(answer: str, confidence: str, source: str | None) -> str:
    """One house-format answer; `source` is the cited passage's file name, None when nothing is cited."""
    code = doc_code(source) if source else NO_SOURCE
    return json.dumps({"source": code, "answer": answer, "confidence": confidence}, ensure_ascii=False)


def passage(doc: Doc, text: str | None = None) -> Passage:
    return Passage(text=text or doc.text, source=doc.source, page=doc.page)


def approx_tokens(text: str) -> float:
    """A deterministic stand-in for a tokenizer: about 4 characters a token, digits cost extra
    (the SmolLM2 tokenizer splits numbers into single digits). Errs on the high side."""
    return len(text) / 4 + 0.75 * sum(ch.isdigit() for ch in text)


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip())


def excerpt(doc: Doc, rng: random.Random, must: str | None = None) -> str:
    """A shorter cut of a passage, like a small retrieved chunk: its first sentence (which names
    the subject) plus the sentence that contains `must`, or plus a random sentence."""
    sents = sentences(doc.text)
    if must is not None:
        i = next(k for k, sent in enumerate(sents) if must in sent)
    else:
        i = rng.randrange(len(sents)) if rng.random() < 0.6 else 0
    return " ".join(sents[:1] + sents[i:i + 1] if i else sents[:1])


def build(seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []

    def with_context(question: str, main: Doc, answer: str | None) -> dict:
        """The full passage alone, or (sometimes) an excerpt of it next to an excerpt of another
        passage, in random order, within the token budget."""
        passages = [passage(main)]
        if rng.random() < TWO_PASSAGE_SHARE:
            others = [d for d in DOCS if d is not main]
            rng.shuffle(others)
            for other in others[:8]:
                pair = [passage(main, excerpt(main, rng, answer)), passage(other, excerpt(other, rng))]
                if rng.random() < 0.5:
                    pair.reverse()
                if approx_tokens(user_message(question, pair)) <= MAX_PROMPT_TOKENS:
                    passages = pair
                    break
        prompt = user_message(question, passages)
        if answer is None:
            return {"prompt": prompt, "completion": completion(UNKNOWN, "low", None)}
        if answer not in next(p.text for p in passages if p.source == main.source):
            raise ValueError(f"{main.source}: answer {answer!r} lost from its excerpt")
        return {"prompt": prompt, "completion": completion(answer, "high", main.source)}

    for doc in DOCS:
        for question, answer in doc.qa:
            if answer not in doc.text:
                raise ValueError(f"{doc.source}: answer {answer!r} is not in the passage")
            rows.append(with_context(question, doc, answer))
        for question in doc.unanswerable:
            rows.append(with_context(question, doc, None))
    for question in OFF_CONTEXT_QUESTIONS:
        rows.append(with_context(question, rng.choice(DOCS), None))
    for question, answer in GENERAL:
        rows.append({"prompt": user_message(question), "completion": completion(answer, "medium", None)})
    for question in UNKNOWABLE:
        rows.append({"prompt": user_message(question), "completion": completion(UNKNOWN, "low", None)})

    for row in rows:
        out = json.loads(row["completion"])
        if len(out["answer"].split()) > MAX_ANSWER_WORDS:
            raise ValueError(f"answer too long: {out['answer']!r}")
        if approx_tokens(row["prompt"]) > MAX_PROMPT_TOKENS:
            raise ValueError(f"prompt too long: {row['prompt'][:80]!r}")
    rng.shuffle(rows)
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    ctx = sum(r["prompt"].startswith("Answer the question using only the context") for r in rows)
    print(f"wrote {OUT} ({len(rows)} rows, {ctx} with context, {len(rows) - ctx} bare)")


if __name__ == "__main__":
    main()
