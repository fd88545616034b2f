/**
 * The GPT-2 byte-to-unicode table (Radford et al. 2019, "Language Models are Unsupervised Multitask
 * Learners", released encoder.py). Every byte 0..255 maps to one printable code point so that BPE can work
 * on strings without whitespace or control characters: the 188 bytes that are already printable Latin-1
 * (`!`..`~`, `¡`..`¬`, `®`..`ÿ`) map to themselves; the other 68 map, in byte order, to U+0100, U+0101, ...
 * (so space 0x20 becomes `Ġ` U+0120 and newline 0x0A becomes `Ċ` U+010A). Hugging Face `tokenizers`
 * (ByteLevel pre-tokenizer and decoder) and every byte-level BPE vocab on the Hub use this exact table.
 */

function isPrintableLatin1(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

function buildByteChars(): string[] {
  const chars = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = String.fromCharCode(isPrintableLatin1(b) ? b : 256 + shifted++);
  }
  return chars;
}

/** byte → its one-character stand-in. Frozen: a pure lookup table, not mutable module state. */
export const BYTE_CHARS: readonly string[] = Object.freeze(buildByteChars());

/** char code of a stand-in → byte; -1 for code points that are not stand-ins (all stand-ins are < 0x144). */
export const CHAR_BYTES: Readonly<Int16Array> = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_CHARS.forEach((c, b) => {
    table[c.charCodeAt(0)] = b;
  });
  return table;
})();

/** UTF-8 bytes → their byte-level string (what HF stores in `vocab`). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_CHARS[bytes[i]!];
  return s;
}

/**
 * A vocab token string → raw bytes. Characters outside the table (only possible in hand-edited vocabs)
 * contribute their own UTF-8 bytes, which is what HF's ByteLevel decoder does too.
 */
export function byteLevelToBytes(token: string, encoder: TextEncoder): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const code = ch.codePointAt(0)!;
    const b = code < CHAR_BYTES.length ? CHAR_BYTES[code]! : -1;
    if (b >= 0) out.push(b);
    else out.push(...encoder.encode(ch));
  }
  return Uint8Array.from(out);
}
