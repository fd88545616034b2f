/**
 * A checkpoint's own chat template as a ChatFormat (issue 18 item 2). transformers keeps the template in
 * `chat_template.jinja` beside the tokenizer (it wins when present) or as `chat_template` in
 * `tokenizer_config.json` (a string, or a list of named templates of which `default` is used), and renders
 * it with Jinja given `messages`, `add_generation_prompt`, and the special tokens' spellings; its
 * `apply_chat_template(tokenize=True)` then encodes the text without adding BOS/EOS.
 *
 * Rendering needs a Jinja implementation made for chat templates (`@huggingface/jinja`): it is not among
 * this project's dependencies, so the renderer is a parameter here (TemplateRenderer) and a checkpoint with
 * a template and no renderer is an E_CHAT_TEMPLATE error naming the file, never a silent fall-back to the
 * built-in markers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ChatFormat } from '../core/chat';
import { BbioError } from '../util/errors';
import type { BpeTokenizer } from './tokenizer';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The variables transformers passes to a chat template (the ones these prompts need). */
export interface TemplateContext {
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  bos_token: string;
  eos_token: string;
  pad_token: string;
}

/** Renders a Jinja chat template with a context, as `@huggingface/jinja`'s `new Template(src).render(ctx)`. */
export type TemplateRenderer = (template: string, context: TemplateContext) => string;

export interface ChatTemplate {
  source: string;
  file: string;
}

/** The template of a tokenizer folder, or null when it has none (transformers' precedence: the .jinja file first). */
export async function readChatTemplate(dir: string): Promise<ChatTemplate | null> {
  const jinja = path.join(dir, 'chat_template.jinja');
  try {
    return { source: await fs.promises.readFile(jinja, 'utf8'), file: jinja };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new BbioError('E_IO', `cannot read ${jinja}`, { file: jinja }, undefined, { cause: e });
  }
  const configFile = path.join(dir, 'tokenizer_config.json');
  let config: { chat_template?: unknown };
  try {
    config = JSON.parse(await fs.promises.readFile(configFile, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BbioError('E_TOKENIZER', `cannot read ${configFile}`, { file: configFile }, 'tokenizer_config.json must be JSON', { cause: e });
  }
  const t = config.chat_template;
  if (t == null) return null;
  if (typeof t === 'string') return { source: t, file: configFile };
  const named = Array.isArray(t) ? t.find((x: { name?: unknown }) => x?.name === 'default') : undefined;
  if (typeof named?.template === 'string') return { source: named.template, file: configFile };
  throw new BbioError('E_CHAT_TEMPLATE', `${configFile}: chat_template must be a string or a list of {name, template} with a "default" entry`, { file: configFile });
}

/** A probe answer for finding what a template writes after an answer (its end of turn). */
const PROBE_ANSWER = 'bbio-probe-answer';

/**
 * The ChatFormat of a template: prompt = the user turn rendered with add_generation_prompt; response = what
 * rendering the assistant's answer too adds after that prompt (so the loss mask is exactly the assistant
 * turn); the end-of-turn token = the first special token the template writes after the answer (ChatML's
 * `<|im_end|>`, Llama 3's `<|eot_id|>`), which stops generation.
 */
export function templateChatFormat(template: ChatTemplate, tok: BpeTokenizer, render: TemplateRenderer): ChatFormat {
  const spell = (id: number) => (id >= 0 ? tok.idToToken(id) ?? '' : '');
  const base = { bos_token: spell(tok.bosId), eos_token: spell(tok.eosId), pad_token: spell(tok.padId) };
  const prompt = (user: string) => render(template.source, { ...base, messages: [{ role: 'user', content: user }], add_generation_prompt: true });
  const response = (user: string, answer: string) => {
    const head = prompt(user);
    const full = render(template.source, {
      ...base, messages: [{ role: 'user', content: user }, { role: 'assistant', content: answer }], add_generation_prompt: false,
    });
    if (!full.startsWith(head)) {
      throw new BbioError('E_CHAT_TEMPLATE', `${template.file}: the chat template does not render a conversation as its prompt followed by the answer`,
        { file: template.file }, 'the loss mask needs the prompt as a prefix of the whole conversation; use a template that keeps earlier turns verbatim');
    }
    return full.slice(head.length);
  };
  const probe = response('bbio-probe-question', PROBE_ANSWER);
  const at = probe.indexOf(PROBE_ANSWER);
  if (at < 0) throw new BbioError('E_CHAT_TEMPLATE', `${template.file}: the chat template does not write the assistant's answer`, { file: template.file });
  const after = tok.encode(probe.slice(at + PROBE_ANSWER.length), { splitSpecial: true });
  const endOfTurn = after.find((id) => tok.isSpecial(id));
  return {
    source: template.file,
    prompt,
    response,
    stop: endOfTurn === undefined ? [] : [spell(endOfTurn)],
    stopIds: endOfTurn === undefined ? [] : [endOfTurn],
    addBos: false,
    appendEos: false,
    splitSpecial: true,
  };
}

/**
 * The format a model folder's prompts are written in: its chat template when it has one, else `fallback`
 * (the built-in format). A template without a renderer is E_CHAT_TEMPLATE, never the built-in markers.
 */
export async function loadChatFormat(dir: string, tok: BpeTokenizer, fallback: ChatFormat, render: TemplateRenderer | null): Promise<ChatFormat> {
  const template = await readChatTemplate(dir);
  if (!template) return fallback;
  if (!render) {
    throw new BbioError('E_CHAT_TEMPLATE', `${template.file}: the model has a chat template, and rendering it needs @huggingface/jinja, which is not installed`,
      { file: template.file }, 'install @huggingface/jinja beside the engine (npm install @huggingface/jinja), or remove the template to use the built-in <|user|> format');
  }
  return templateChatFormat(template, tok, render);
}
