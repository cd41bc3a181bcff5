"""The 7 emotion classes, in FER2013's label order, used everywhere in fervid."""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)


def dominant_emotion(amounts, probabilities=None, within: float = 0.0) -> str:
    """The emotion with the largest of ``amounts``: every ``dominant_emotion`` fervid gives (a track's and a
    segment's, a segment's label in ``fervid evaluate``, a file's in ``files.csv``), by one rule. ``amounts``: 7
    numbers in :data:`EMOTIONS` order, each emotion's seconds seen (its frames or rows where their time is not
    known); ``probabilities``: each emotion's mean probability over the same rows (or their sums: the order is the
    same), None where they are not at hand. Amounts are compared unrounded: a track seen sad for 500.03 s and happy
    for 499.97 s has both shares 0.5 to 4 decimals, and is sad. A tie (amounts within ``within`` of the largest:
    float sums of the same seconds differ in their last bits, times written to 4 decimals in theirs) goes to the
    tied emotion with the higher mean probability, and where those are equal too (or not at hand) to the one first
    in :data:`EMOTIONS` (angry, disgust, fear, happy, sad, surprise, neutral)."""
    largest = max(amounts)
    tied = [i for i, amount in enumerate(amounts) if amount >= largest - within]
    if probabilities is not None:
        surest = max(probabilities[i] for i in tied)
        tied = [i for i in tied if probabilities[i] == surest]
    return EMOTIONS[tied[0]]


# Folder names used by other datasets, mapped onto fervid's class names.
EMOTION_ALIASES: dict[str, str] = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "happy": "happy",
    "happiness": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
}


# Words people file faces under that mean one of fervid's emotions but are not taken as it: a label is the
# annotator's claim, so fervid suggests the emotion (a folder or a label of these is left out, and named with it)
# rather than deciding for them.
EMOTION_SYNONYMS: dict[str, str] = {
    "afraid": "fear", "scared": "fear", "frightened": "fear", "terrified": "fear", "fright": "fear",
    "joy": "happy", "joyful": "happy", "glad": "happy", "smile": "happy", "smiling": "happy",
    "mad": "angry", "furious": "angry", "rage": "angry",
    "unhappy": "sad", "sorrow": "sad", "crying": "sad",
    "disgusting": "disgust", "surprising": "surprise", "astonished": "surprise", "shocked": "surprise",
    "calm": "neutral",
}


def emotion_of(name: str) -> str | None:
    """The fervid emotion a folder name or label names, as an emotion or an alias (:data:`EMOTION_ALIASES`), in any
    case and with any surrounding spaces (a folder ``"fear "``, a cell ``" Happy"``); None where it names none."""
    return EMOTION_ALIASES.get(str(name).strip().lower())


def accepted_emotion_names() -> str:
    """The names :func:`emotion_of` accepts, each emotion with its aliases: "angry/anger, disgust/disgusted, ...",
    for the messages that refuse another."""
    names = {emotion: [emotion] for emotion in EMOTIONS}
    for alias, emotion in EMOTION_ALIASES.items():
        if alias != emotion:
            names[emotion].append(alias)
    return ", ".join("/".join(spellings) for spellings in names.values()) + " (any case)"


def emotion_hint(name: str) -> str:
    """What a name that :func:`emotion_of` refuses may have meant, for the message that refuses it: "did you mean
    fear?" for a synonym (``Scared``) or a misspelling (``suprised``); "" where nothing comes close (``contempt``,
    a class fervid lacks)."""
    import difflib

    if emotion_of(name) is not None:  # (difflib's closest match to "happy" is happy itself)
        return ""
    word = str(name).strip().lower()
    guess = EMOTION_SYNONYMS.get(word)
    if guess is None:
        close = difflib.get_close_matches(word, [*EMOTION_ALIASES, *EMOTION_SYNONYMS], n=1, cutoff=0.75)
        guess = (EMOTION_ALIASES.get(close[0]) or EMOTION_SYNONYMS.get(close[0])) if close else None
    return f"did you mean {guess}?" if guess else ""
