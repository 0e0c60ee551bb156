"""The word lists behind the special-category detectors (health, beliefs, orientation).

Kept apart from the patterns so they can be read and extended on their own. Each list
holds lower-case terms; multi-word terms are matched with any whitespace between words.
"""

from __future__ import annotations

__all__ = [
    "CONDITIONS",
    "HEALTH_STATES",
    "MEDICATIONS",
    "ORIENTATIONS",
    "PARTIES",
    "POLITICAL_IDENTITIES",
    "RELIGIONS",
    "WORSHIP_PLACES",
]

#: Diagnoses, disorders, chronic conditions and medical events.
CONDITIONS = (
    "diabetes", "type 1 diabetes", "type 2 diabetes", "asthma", "cancer", "breast cancer",
    "prostate cancer", "leukemia", "leukaemia", "lymphoma", "melanoma", "tumour", "tumor",
    "hiv", "aids", "hepatitis", "adhd", "autism", "depression", "anxiety",
    "anxiety disorder", "generalized anxiety disorder", "panic attacks", "ptsd", "ocd",
    "bipolar disorder", "schizophrenia", "eating disorder", "anorexia", "bulimia",
    "insomnia", "epilepsy", "seizures", "migraine", "migraines", "hypertension",
    "high blood pressure", "blood pressure", "heart disease", "heart failure",
    "heart attack", "stroke", "arthritis", "rheumatoid arthritis", "lupus",
    "multiple sclerosis", "parkinson's", "alzheimer's", "dementia", "celiac disease",
    "coeliac disease", "crohn's", "crohn's disease", "ulcerative colitis", "ibs",
    "endometriosis", "pcos", "hypothyroidism", "hyperthyroidism", "kidney disease",
    "copd", "cystic fibrosis", "sickle cell", "long covid", "covid", "tinnitus",
    "fibromyalgia", "chronic fatigue", "psoriasis", "eczema", "glaucoma", "scoliosis",
    "dyslexia", "chemo", "chemotherapy", "radiotherapy", "dialysis", "surgery",
    "knee surgery", "miscarriage", "concussion", "sclerosis", "addiction", "alcoholism",
    "insulin pump", "pacemaker",
)  # fmt: skip

#: Medicines by generic and common brand names.
MEDICATIONS = (
    "metformin", "insulin", "sertraline", "zoloft", "fluoxetine", "prozac", "citalopram",
    "escitalopram", "lexapro", "paroxetine", "venlafaxine", "bupropion", "wellbutrin",
    "lithium", "lamotrigine", "quetiapine", "olanzapine", "risperidone", "aripiprazole",
    "methylphenidate", "ritalin", "adderall", "concerta", "lisinopril", "amlodipine",
    "atorvastatin", "simvastatin", "statins", "warfarin", "levothyroxine", "omeprazole",
    "prednisone", "salbutamol", "albuterol", "ventolin", "inhaler", "epipen", "keppra",
    "levetiracetam", "valproate", "gabapentin", "pregabalin", "tramadol", "oxycodone",
    "morphine", "methadone", "diazepam", "valium", "lorazepam", "xanax", "alprazolam",
    "melatonin", "ozempic", "semaglutide", "truvada", "antiretrovirals",
    "antidepressants", "antibiotics", "penicillin", "birth control pill", "the pill",
    "hrt", "testosterone", "estrogen", "oestrogen", "chemo pills", "ibuprofen",
)  # fmt: skip

#: States a person "is" in that are health data on their own ("I'm pregnant").
HEALTH_STATES = (
    "pregnant", "diabetic", "epileptic", "asthmatic", "bipolar", "autistic", "anorexic",
    "hiv positive", "hiv-positive", "hiv+", "immunocompromised", "in remission",
    "allergic to", "deaf", "blind", "disabled", "in rehab", "sober", "infertile",
    "depressed", "schizophrenic", "dyslexic", "on dialysis",
)  # fmt: skip

#: Sexual orientations as a person states them.
ORIENTATIONS = (
    "gay", "lesbian", "bisexual", "bi", "queer", "pansexual", "asexual",
    "homosexual", "heterosexual", "straight", "demisexual",
)  # fmt: skip

#: Religions, denominations and convictions about religion, as a person states them.
RELIGIONS = (
    "muslim", "catholic", "christian", "jew", "jewish", "hindu", "buddhist", "sikh",
    "mormon", "atheist", "agnostic", "protestant", "orthodox", "evangelical", "baptist",
    "methodist", "anglican", "lutheran", "presbyterian", "pentecostal", "quaker",
    "pagan", "wiccan", "shia", "sunni", "jain", "bahá'í", "baha'i", "zoroastrian",
    "rastafarian", "taoist", "shinto", "jehovah's witness", "jehovah's witnesses",
    "born-again christian", "orthodox jew", "scientologist", "unitarian",
)  # fmt: skip

#: Where people worship: "I go to (the) mosque".
WORSHIP_PLACES = (
    "church", "mass", "mosque", "synagogue", "temple", "gurdwara", "shul", "chapel",
    "services", "friday prayers", "kingdom hall",
)  # fmt: skip

#: Political identities ("I'm a socialist").
POLITICAL_IDENTITIES = (
    "democrat", "republican", "socialist", "communist", "libertarian", "conservative",
    "liberal", "progressive", "tory", "anarchist", "marxist", "centrist", "fascist",
    "nationalist", "leftist", "left-winger", "right-winger", "green", "trotskyist",
    "social democrat", "monarchist", "republican voter", "labour voter", "pro-choice",
    "pro-life", "feminist", "maoist",
)  # fmt: skip

#: Parties, movements, referendum sides and politicians one votes for or supports.
PARTIES = (
    "labour", "the labour party", "conservatives", "the conservative party",
    "conservative party", "tories", "the tories", "lib dems", "liberal democrats", "snp",
    "the snp", "plaid cymru", "reform", "reform uk", "ukip", "green", "greens",
    "the greens", "green party", "the green party", "democrats", "the democrats",
    "republicans", "the republicans", "gop", "the gop", "libertarians", "social democrats",
    "the social democrats", "spd", "cdu", "afd", "fdp", "die linke", "psoe", "podemos",
    "vox", "sumar", "en marche", "renaissance", "rassemblement national",
    "la france insoumise", "fidesz", "likud", "bjp", "congress", "anc", "ndp",
    "liberals", "maga", "trump", "biden", "harris", "obama",
    "macron", "le pen", "mélenchon", "melenchon", "sanders", "bernie", "corbyn",
    "starmer", "sunak", "farage", "modi", "merkel", "scholz", "meloni", "sánchez",
    "sanchez", "milei", "lula", "bolsonaro", "trudeau", "poilievre",
)  # fmt: skip
