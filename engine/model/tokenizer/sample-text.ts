/**
 * Deterministic synthetic clinical-style text for tokenizer tests and benchmarks: sentences from a small
 * grammar over drug, condition and measurement words, with numbers, units, punctuation, some CJK and
 * emoji and odd whitespace, so that a trained vocab and the encoders see every pre-tokenizer branch.
 */
import { makeRng } from '../../util/rng';

const DRUGS = ['ibuprofen', 'metformin', 'atorvastatin', 'amoxicillin', 'lisinopril', 'warfarin', 'insulin glargine', 'omeprazole', 'levothyroxine', 'salbutamol'];
const CONDITIONS = ['type 2 diabetes mellitus', 'hypertension', 'community-acquired pneumonia', 'atrial fibrillation', 'hypothyroidism', 'asthma', 'chronic kidney disease', 'GERD', 'hyperlipidemia', 'sepsis'];
const FINDINGS = ['HbA1c', 'eGFR', 'LDL-C', 'INR', 'TSH', 'CRP', 'troponin I', 'SpO₂', 'BP', 'WBC'];
const UNITS = ['mg', 'mg/dL', 'mmol/L', 'µg', 'IU', 'mL/min/1.73m²', '%', 'mmHg', '×10⁹/L', 'ng/mL'];
const SYLLABLES = ['a', 'ba', 'ce', 'do', 'fi', 'ga', 'la', 'li', 'mo', 'ne', 'pra', 'ri', 'so', 'ta', 'vi', 'xo', 'zu', 'tre', 'qui', 'ben', 'dar', 'kel', 'lor', 'mep', 'nor', 'pes', 'rol', 'sen', 'tor', 'val'];
const SUFFIXES = ['mab', 'tinib', 'vastatin', 'pril', 'sartan', 'olol', 'azole', 'cillin', 'mycin', 'pine', 'itis', 'emia', 'osis', 'ectomy', 'plasty', 'genic'];
const EXTRAS = ['患者の症状は改善した。', '病人血压升高', '🧬', '💊💉', 'Ménière’s', 'naïve', '—', '\t', '  ', '\r\n'];

export function makeClinicalText(seed: number, approxChars: number): string {
  const rng = makeRng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const num = (): string => (rng.next() < 0.5 ? String(rng.int(1000)) : (rng.next() * 200).toFixed(rng.int(3)));
  // invented INN-style drug and disease names: a long tail of distinct words, so the vocab has something to learn
  const coined = (): string => {
    let w = '';
    for (let k = 1 + rng.int(3); k > 0; k--) w += pick(SYLLABLES);
    return w + pick(SUFFIXES);
  };
  const gene = (): string => String.fromCharCode(65 + rng.int(26), 65 + rng.int(26)) + (rng.next() < 0.5 ? String.fromCharCode(65 + rng.int(26)) : '') + (1 + rng.int(20));
  const templates: Array<() => string> = [
    () => `${coined()[0]!.toUpperCase()}${coined().slice(1)} reduced ${pick(FINDINGS)} by ${num()}% versus ${coined()} (n=${rng.int(5000)}, p<0.0${1 + rng.int(5)}).`,
    () => `Variants in ${gene()} and ${gene()} were linked to ${coined()} in ${rng.int(30)} families [PMID:${10000000 + rng.int(30000000)}].`,
    () => `Patient (${20 + rng.int(70)} y/o) with ${pick(CONDITIONS)} was started on ${pick(DRUGS)} ${num()} ${pick(UNITS)} twice daily.`,
    () => `${pick(FINDINGS)}: ${num()} ${pick(UNITS)} (ref. ${num()}–${num()}); repeat in ${1 + rng.int(12)} weeks.`,
    () => `Q: Which drug is first-line for ${pick(CONDITIONS)}? A: ${pick(DRUGS)}, unless contraindicated.`,
    () => `Don't combine ${pick(DRUGS)} with ${pick(DRUGS)}—it's associated with ${pick(CONDITIONS)} in ${num()}% of cases.`,
    () => `${pick(EXTRAS)} ${pick(DRUGS).toUpperCase()} ${num()}${pick(UNITS)} ${pick(EXTRAS)}`,
    () => `\n\n## Follow-up ${rng.int(100)}\n- ${pick(FINDINGS)} ↑ ${num()}\n- plan: ${pick(DRUGS)} taper`,
  ];
  const parts: string[] = [];
  let length = 0;
  while (length < approxChars) {
    const s = pick(templates)();
    parts.push(s);
    length += s.length + 1;
  }
  return parts.join(' ');
}
