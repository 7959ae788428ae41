"""Spanish or English? A stop-word vote, good enough for choosing a reply's language."""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"[a-záéíóúüñ]+")
_ES = set(
    "el la los las de del que y en un una es por para con no se su al lo como más pero sus le ya "
    "o este esta porque muy sin sobre también me hasta hay donde quien desde todo nos durante "
    "cuánto cuanto cuál cual qué dime precio quiero busco cursos curso hola gracias puedes eres "
    "está esta están vale cuesta tienes tienen hoy ayuda nivel favor necesito".split()
)
_EN = set(
    "the of and to in is you that it he was for on are as with his they at be this have from or "
    "one had by word but not what all were we when your can said there use an each which she do "
    "how their if will up about out many then them these so some her would make like him into "
    "time has look two more write go see number no way could people my than first been call who "
    "its now find long down day did get come made may part price much show me please hello hi "
    "thanks course courses want need today".split()
)


def fold(text: str) -> str:
    """Lower case without accents (ñ kept): 'Básico' -> 'basico'."""
    text = text.lower().replace("ñ", "\0")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return text.replace("\0", "ñ")


def detect(text: str | None) -> str | None:
    """'es', 'en', or None when the text says too little."""
    if not text:
        return None
    lower = text.lower()
    es = sum(2 for c in lower if c in "ñ¿¡áéíóú")
    en = 0
    for word in _WORD.findall(lower):
        es += word in _ES
        en += word in _EN
    if es == en:
        return None
    return "es" if es > en else "en"


# Spain's "vosotros" present tense, as Latin America's "ustedes" says it: the tools' examples are
# written the second way ("¿tienen...?"), and "¿tenéis...?" should read as near to them.
_VOSOTROS_STEMS = {  # the verbs whose stem changes with ustedes
    "tenéis": "tienen", "podéis": "pueden", "queréis": "quieren", "venís": "vienen", "pensáis": "piensan",
    "empezáis": "empiezan", "recomendáis": "recomiendan", "contáis": "cuentan", "volvéis": "vuelven",
    "cerráis": "cierran", "entendéis": "entienden", "sois": "son", "estáis": "están", "vais": "van",
    "dais": "dan", "habéis": "han", "hacéis": "hacen", "decís": "dicen", "servís": "sirven", "pedís": "piden",
}
_VOSOTROS = re.compile(r"\b(?:([a-zñ]{2,})(áis|éis)|([a-zñ]{3,})(ís)|(sois|vais|dais))\b", re.IGNORECASE)
_NOT_VERBS = {"país", "anís", "cutís", "maravedís", "jabalís"}


def ustedes(text: str) -> str:
    """"¿Ofrecéis yoga?" -> "¿ofrecen yoga?", "¿tenéis...?" -> "¿tienen...?": the vosotros present
    (written with its accent) as the ustedes form."""
    def one(match: re.Match[str]) -> str:
        word = match.group(0).lower()
        if word in _NOT_VERBS:
            return match.group(0)
        if word in _VOSOTROS_STEMS:
            return _VOSOTROS_STEMS[word]
        stem, ending = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        return stem + ("an" if ending.lower() == "áis" else "en")
    return _VOSOTROS.sub(one, text)
