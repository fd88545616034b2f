/**
 * The one chat template. Training text (`SynthExample.text`, read by pretraining and SFT) is, byte for byte:
 *
 *   <|user|>\n{prompt}\n<|assistant|>\n{response}\n<|end|>
 *
 * The markers are plain strings so a byte-level BPE tokenizer learns them; SFT masks the loss up to and
 * including the `<|assistant|>\n` line. The prompt is encoded on its own exactly as at inference
 * (`promptPrefix`), so training, evaluation and generation see the same token boundary.
 */

export const CHAT_MARKERS = { user: '<|user|>', assistant: '<|assistant|>', end: '<|end|>' } as const;

export function formatChat(prompt: string, response: string): string {
  return `${CHAT_MARKERS.user}\n${prompt}\n${CHAT_MARKERS.assistant}\n${response}\n${CHAT_MARKERS.end}`;
}

/** The text the model is given and continues: everything up to and including the assistant marker line. */
export function promptPrefix(prompt: string): string {
  return `${CHAT_MARKERS.user}\n${prompt}\n${CHAT_MARKERS.assistant}\n`;
}

/** What follows `promptPrefix` in training text: the response and the end marker. */
export function responseSuffix(response: string): string {
  return `${response}\n${CHAT_MARKERS.end}`;
}
