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

/**
 * How a model's turns are written, for every stage that builds prompts or training text (SFT, GRPO,
 * evaluation, the dataset preview, `infer --chat`). The built-in format is the one above; a checkpoint with
 * a chat template gets one from engine/model/chat-template.ts. Training text for a user turn and an answer
 * is `prompt(user) + response(user, answer)`, tokenised as two pieces so the loss mask covers exactly the
 * response (the assistant's turn) and training sees the token boundary that generation sees.
 */
export interface ChatFormat {
  /** "built-in" or the template's file, for manifests and `--show-prompt`. */
  source: string;
  /** The text the model continues: the conversation up to and including the assistant turn's header. */
  prompt(user: string): string;
  /** What follows prompt(user) in training text: the answer and the end of its turn. */
  response(user: string, answer: string): string;
  /** Strings that end a generated turn. */
  stop: readonly string[];
  /** Token ids that end a generated turn (the end-of-turn token), kept as the row's last id like EOS. */
  stopIds: readonly number[];
  /** Whether the tokenizer's BOS goes in front of prompt() (a template writes its own, as transformers renders it). */
  addBos: boolean;
  /** Whether the tokenizer's EOS follows response() in training text (a template writes its own end of turn). */
  appendEos: boolean;
  /**
   * Whether special-token spellings in the text are encoded as those tokens: a template's markers are
   * special tokens; the built-in markers are plain text, so user text cannot inject control tokens.
   */
  splitSpecial: boolean;
}

/** The built-in format (bio-tiny and checkpoints without a chat template). */
export function builtinChatFormat(tok: { bosId: number }): ChatFormat {
  return {
    source: 'built-in',
    prompt: promptPrefix,
    response: (_user, answer) => responseSuffix(answer),
    stop: [CHAT_MARKERS.end, CHAT_MARKERS.user],
    stopIds: [],
    addBos: tok.bosId >= 0,
    appendEos: true,
    splitSpecial: false,
  };
}

/**
 * The text a format writes around the user's prompt and around the answer, when it writes both verbatim:
 * prompt(user) = prompt[0] + user + prompt[1] and response(user, answer) = response[0] + answer + response[1]
 * for every example given (a template that trims or rewrites the content does not have one). The dataset
 * preview shows every example as trained with it; null when some example is not written that way.
 */
export interface ChatFrame {
  prompt: [string, string];
  response: [string, string];
}

/** Placeholders for the user's text and the answer (the frame is then checked against every example's own rendering). */
const USER_SLOT = '\u0001user\u0001';
const ANSWER_SLOT = '\u0001answer\u0001';

export function chatFrame(chat: ChatFormat, examples: readonly { prompt: string; response: string }[]): ChatFrame | null {
  const p = chat.prompt(USER_SLOT).split(USER_SLOT);
  const r = chat.response(USER_SLOT, ANSWER_SLOT).split(ANSWER_SLOT);
  if (p.length !== 2 || r.length !== 2 || r.some((s) => s.includes(USER_SLOT))) return null;
  const frame: ChatFrame = { prompt: [p[0]!, p[1]!], response: [r[0]!, r[1]!] };
  const verbatim = examples.every((ex) =>
    chat.prompt(ex.prompt) === frame.prompt[0] + ex.prompt + frame.prompt[1]
    && chat.response(ex.prompt, ex.response) === frame.response[0] + ex.response + frame.response[1]);
  return verbatim ? frame : null;
}
