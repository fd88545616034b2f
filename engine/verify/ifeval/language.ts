/**
 * Language identification for IFEval's `language:response_language` and the `change_case:english_*`
 * checkers. The reference evaluator calls the Python `langdetect` package (a port of Google's
 * language-detection: character n-gram profiles of 55 languages). No such library is a dependency here,
 * so this is a smaller detector for the 30 languages IFEval asks for (instructions_util.LANGUAGE_CODES):
 *
 * 1. the script decides most of them: the share of letters in each Unicode script (Thai, Hangul, kana,
 *    Han, Greek-free Cyrillic, Arabic, Hebrew, Devanagari, Bengali, Tamil, Telugu, Kannada, Gujarati,
 *    Gurmukhi, Malayalam);
 * 2. within a script shared by several of them (Latin, Cyrillic, Arabic, Devanagari) the language whose
 *    characteristic letters and most frequent function words occur most often wins.
 *
 * Like langdetect's LangDetectException, text without letters gives `null` ("cannot tell"), which the
 * checkers count as following the instruction, as the reference does.
 */

/** Scripts that belong to one IFEval language (kana before Han: Japanese text mixes both). */
const SINGLE_SCRIPT: readonly [RegExp, string][] = [
  [/\p{Script=Thai}/u, 'th'],
  [/\p{Script=Hangul}/u, 'ko'],
  [/[\p{Script=Hiragana}\p{Script=Katakana}]/u, 'ja'],
  [/\p{Script=Hebrew}/u, 'he'],
  [/\p{Script=Bengali}/u, 'bn'],
  [/\p{Script=Tamil}/u, 'ta'],
  [/\p{Script=Telugu}/u, 'te'],
  [/\p{Script=Kannada}/u, 'kn'],
  [/\p{Script=Gujarati}/u, 'gu'],
  [/\p{Script=Gurmukhi}/u, 'pa'],
  [/\p{Script=Malayalam}/u, 'ml'],
];

/** Function words (and, for some, distinctive letters) per language of a shared script. */
const CUES: Record<string, { words: string[]; letters?: RegExp }> = {
  en: { words: ['the', 'and', 'of', 'to', 'is', 'in', 'that', 'it', 'for', 'with', 'you', 'this', 'are', 'was', 'be', 'have', 'not', 'on', 'as', 'by'] },
  es: { words: ['el', 'la', 'de', 'que', 'y', 'en', 'los', 'las', 'por', 'con', 'una', 'es', 'para', 'del', 'se', 'no', 'como', 'más', 'pero', 'muy'], letters: /[ñ¿¡]/u },
  pt: { words: ['o', 'a', 'de', 'que', 'e', 'do', 'da', 'em', 'um', 'uma', 'para', 'com', 'não', 'os', 'as', 'dos', 'das', 'é', 'mais', 'muito'], letters: /[ãõç]/u },
  fr: { words: ['le', 'la', 'les', 'de', 'des', 'et', 'est', 'un', 'une', 'du', 'que', 'pour', 'dans', 'pas', 'au', 'avec', 'ce', 'il', 'sur', 'vous'], letters: /[èêàùœ]/u },
  de: { words: ['der', 'die', 'das', 'und', 'ist', 'nicht', 'ein', 'eine', 'zu', 'den', 'von', 'mit', 'sich', 'auf', 'für', 'ich', 'auch', 'es', 'dem', 'wir'], letters: /[äöüß]/u },
  it: { words: ['il', 'la', 'di', 'che', 'e', 'è', 'un', 'una', 'per', 'non', 'del', 'della', 'gli', 'le', 'con', 'sono', 'nel', 'anche', 'come', 'più'] },
  pl: { words: ['i', 'w', 'nie', 'na', 'się', 'z', 'jest', 'to', 'że', 'do', 'jak', 'ale', 'po', 'co', 'tak', 'jego', 'od', 'są', 'dla', 'przez'], letters: /[ąęłńśźżć]/u },
  vi: { words: ['và', 'của', 'là', 'có', 'không', 'một', 'những', 'được', 'cho', 'người', 'trong', 'này', 'với', 'các', 'để'], letters: /[ăơưđạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]/u },
  sw: { words: ['na', 'ya', 'wa', 'kwa', 'ni', 'za', 'katika', 'la', 'kuwa', 'hii', 'cha', 'yake', 'huo', 'watu', 'sana'] },
  fi: { words: ['ja', 'on', 'ei', 'se', 'että', 'hän', 'oli', 'ovat', 'kuin', 'mutta', 'tai', 'myös', 'jos', 'niin', 'tämä'], letters: /[äö]/u },
  ru: { words: ['и', 'в', 'не', 'на', 'что', 'он', 'с', 'как', 'это', 'по', 'но', 'из', 'его', 'все', 'она'], letters: /[ыэё]/u },
  uk: { words: ['і', 'в', 'не', 'на', 'що', 'з', 'це', 'як', 'та', 'до', 'у', 'й', 'але', 'він', 'від'], letters: /[іїєґ]/u },
  bg: { words: ['и', 'в', 'не', 'на', 'че', 'е', 'се', 'за', 'от', 'да', 'с', 'това', 'са', 'по', 'как'], letters: /ъ/u },
  ar: { words: ['في', 'من', 'على', 'أن', 'إلى', 'هذا', 'التي', 'الذي', 'عن', 'مع', 'هو', 'كان'], letters: /[ةأإى]/u },
  fa: { words: ['و', 'در', 'به', 'از', 'که', 'این', 'را', 'با', 'است', 'برای', 'می', 'آن'], letters: /[پچژگ]/u },
  ur: { words: ['کے', 'میں', 'کی', 'ہے', 'اور', 'سے', 'کو', 'کا', 'یہ', 'نے', 'ہیں', 'پر'], letters: /[ٹڈڑںےہ]/u },
  hi: { words: ['है', 'के', 'में', 'की', 'और', 'से', 'को', 'का', 'एक', 'यह', 'हैं', 'पर'] },
  mr: { words: ['आहे', 'आणि', 'या', 'हे', 'ते', 'की', 'व', 'त्या', 'आहेत', 'होते', 'मध्ये', 'करून'], letters: /ळ/u },
  ne: { words: ['छ', 'र', 'को', 'मा', 'गर्न', 'हो', 'पनि', 'छन्', 'भएको', 'लागि', 'थियो', 'यो'] },
};

/** Languages tried within each shared script. */
const SHARED_SCRIPTS: readonly [RegExp, readonly string[]][] = [
  [/\p{Script=Cyrillic}/u, ['ru', 'uk', 'bg']],
  [/\p{Script=Arabic}/u, ['ar', 'fa', 'ur']],
  [/\p{Script=Devanagari}/u, ['hi', 'mr', 'ne']],
  [/\p{Script=Han}/u, ['zh']],
  [/\p{Script=Latin}/u, ['en', 'es', 'pt', 'fr', 'de', 'it', 'pl', 'vi', 'sw', 'fi']],
];

function bestByCues(text: string, langs: readonly string[]): string {
  const words = text.toLowerCase().match(/[\p{L}\p{M}]+/gu) ?? [];
  let best = langs[0]!;
  let bestScore = -1;
  for (const lang of langs) {
    const cue = CUES[lang];
    if (!cue) continue;
    const set = new Set(cue.words);
    // a function word counts once per occurrence; a distinctive letter counts double per word that has one
    let s = words.filter((w) => set.has(w)).length;
    if (cue.letters) s += 2 * words.filter((w) => cue.letters!.test(w)).length;
    if (s > bestScore) {
      best = lang;
      bestScore = s;
    }
  }
  return best;
}

/** The most likely language code of `text`, or null when it has no letters. */
export function detectLanguage(text: string): string | null {
  const letters = [...text].filter((c) => /\p{L}/u.test(c));
  if (!letters.length) return null;
  const share = (re: RegExp): number => letters.filter((c) => re.test(c)).length / letters.length;
  // Japanese: any kana in a Han/kana text (kana are ~a third of Japanese prose)
  if (share(/[\p{Script=Hiragana}\p{Script=Katakana}]/u) > 0.05) return 'ja';
  let best: { lang: string; share: number } = { lang: 'en', share: 0 };
  for (const [re, lang] of SINGLE_SCRIPT) {
    const s = share(re);
    if (s > best.share) best = { lang, share: s };
  }
  for (const [re, langs] of SHARED_SCRIPTS) {
    const s = share(re);
    if (s > best.share) best = { lang: langs.length === 1 ? langs[0]! : bestByCues(text, langs), share: s };
  }
  return best.lang;
}
