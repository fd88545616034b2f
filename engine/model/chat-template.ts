/**
 * A checkpoint's own chat template as a ChatFormat (issue 18 item 2). transformers keeps the template in
 * `chat_template.jinja` beside the tokenizer (it wins when present) or as `chat_template` in
 * `tokenizer_config.json` (a string, or a list of named templates of which `default` is used), and renders
 * it with Jinja (trim_blocks, lstrip_blocks) given `messages`, `add_generation_prompt`, `tools` and
 * `documents` (None without them), the special tokens' spellings from the tokenizer's config, and the
 * globals `raise_exception` and `strftime_now`; its `apply_chat_template(tokenize=True)` then encodes the
 * text without adding BOS/EOS. `jinjaRenderer` does the same with `@huggingface/jinja`, the Jinja
 * implementation made for chat templates (transformers.js renders with it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Template } from '@huggingface/jinja';
import { builtinChatFormat, type ChatFormat } from '../core/chat';
import { BbioError } from '../util/errors';
import type { BpeTokenizer } from './tokenizer';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** The special tokens transformers passes to a template (its `special_tokens_map`): only those the tokenizer sets. */
export interface SpecialTokens {
  bos_token?: string;
  eos_token?: string;
  unk_token?: string;
  sep_token?: string;
  pad_token?: string;
  cls_token?: string;
  mask_token?: string;
  additional_special_tokens?: string[];
}

/** The variables transformers passes to a chat template (without tools or documents, which these prompts never have). */
export interface TemplateContext extends SpecialTokens {
  messages: ChatMessage[];
  add_generation_prompt: boolean;
}

/** Renders a Jinja chat template with a context; errors (syntax, raise_exception) are thrown. */
export type TemplateRenderer = (template: string, context: TemplateContext) => string;

/**
 * The real renderer: `@huggingface/jinja` with the variables transformers adds (tools and documents None).
 * Parsed templates are kept per source text, so rendering every example of a dataset parses once.
 */
export function jinjaRenderer(): TemplateRenderer {
  const parsed = new Map<string, Template>();
  return (source, context) => {
    let template = parsed.get(source);
    if (!template) {
      template = new Template(source);
      parsed.set(source, template);
    }
    return template.render({ tools: null, documents: null, ...context });
  };
}

export interface ChatTemplate {
  source: string;
  file: string;
}

const ROLES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/** A config value as a token's spelling: a string or an AddedToken dict `{content}` (null and absent: unset). */
function spelling(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** The special tokens a tokenizer_config.json sets, as transformers' special_tokens_map holds them. */
export function specialTokensOf(config: Record<string, unknown>): SpecialTokens {
  const out: SpecialTokens = {};
  for (const role of ROLES) {
    const s = spelling(config[role]);
    if (s !== undefined) out[role] = s;
  }
  const extra = config.additional_special_tokens;
  if (Array.isArray(extra)) out.additional_special_tokens = extra.map(spelling).filter((s): s is string => s !== undefined);
  return out;
}

/** The bos/eos/pad spellings a tokenizer resolved, for a template given without its tokenizer_config.json. */
function specialTokensOfTokenizer(tok: BpeTokenizer): SpecialTokens {
  const out: SpecialTokens = {};
  const roles = [['bos_token', tok.bosId], ['eos_token', tok.eosId], ['pad_token', tok.padId]] as const;
  for (const [role, id] of roles) {
    const s = id >= 0 ? tok.idToToken(id) : undefined;
    if (s !== undefined) out[role] = s;
  }
  return out;
}

async function readConfig(file: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new BbioError('E_IO', `cannot read ${file}`, { file }, undefined, { cause: e });
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new BbioError('E_TOKENIZER', `cannot read ${file}`, { file }, 'tokenizer_config.json must be JSON', { cause: e });
  }
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
  const config = await readConfig(configFile);
  const t = config?.chat_template;
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
 * `<|im_end|>`, Llama 3's `<|eot_id|>`), which stops generation. `specials` default to the tokenizer's
 * bos/eos/pad spellings.
 */
export function templateChatFormat(template: ChatTemplate, tok: BpeTokenizer, render: TemplateRenderer, specials: SpecialTokens = specialTokensOfTokenizer(tok)): ChatFormat {
  const renderTurns = (messages: ChatMessage[], addGenerationPrompt: boolean): string => {
    try {
      return render(template.source, { ...specials, messages, add_generation_prompt: addGenerationPrompt });
    } catch (e) {
      if (e instanceof BbioError) throw e;
      throw new BbioError('E_CHAT_TEMPLATE', `${template.file}: the chat template failed to render: ${e instanceof Error ? e.message : String(e)}`,
        { file: template.file }, 'fix the template, or remove it to use the built-in <|user|> format', { cause: e });
    }
  };
  const prompt = (user: string) => renderTurns([{ role: 'user', content: user }], true);
  const response = (user: string, answer: string) => {
    const head = prompt(user);
    const full = renderTurns([{ role: 'user', content: user }, { role: 'assistant', content: answer }], false);
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
  const spell = (id: number) => tok.idToToken(id) ?? '';
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
 * The format a model folder's prompts are written in, for every stage that builds prompts (SFT, GRPO,
 * evaluation, `infer --chat`): its chat template rendered with the special tokens of its
 * tokenizer_config.json when it has one, else `fallback` (default: the built-in format, bio-tiny's).
 */
export async function loadChatFormat(dir: string, tok: BpeTokenizer, fallback: ChatFormat = builtinChatFormat(tok), render: TemplateRenderer = jinjaRenderer()): Promise<ChatFormat> {
  const template = await readChatTemplate(dir);
  if (!template) return fallback;
  const config = await readConfig(path.join(dir, 'tokenizer_config.json'));
  return templateChatFormat(template, tok, render, config ? specialTokensOf(config) : undefined);
}
