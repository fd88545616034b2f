/**
 * Issue 18 item 2: a checkpoint's chat template found where transformers looks, turned into a ChatFormat
 * whose prompt/response split puts the loss mask on exactly the assistant turn and whose stop is the model's
 * end-of-turn token. The split logic is tested with hand-written renderers (stand-ins producing the
 * documented output of Qwen2.5's ChatML template and Llama 3's); the real renderer (@huggingface/jinja) is
 * tested on the published Qwen2.5-Instruct and Llama-3.1-Instruct templates (test/fixtures/chat-template/,
 * their tokenizer_config.json trimmed to the template and the special tokens), against the strings
 * transformers' apply_chat_template produces, written out below from the templates' documented output.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { builtinChatFormat, chatFrame, formatChat } from '../../../engine/core/chat';
import type { SynthExample } from '../../../engine/core/example';
import { jinjaRenderer, loadChatFormat, readChatTemplate, specialTokensOf, templateChatFormat, type ChatMessage, type TemplateRenderer } from '../../../engine/model/chat-template';
import { trainBpe, type BpeTokenizer } from '../../../engine/model/tokenizer';
import { supervisedBatch, tokenizeExample } from '../../../engine/train/examples';
import { BbioError } from '../../../engine/util/errors';
import { tempDir } from '../../helpers/tmp';

const QWEN_SYSTEM = 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.';

/** Qwen2.5-Instruct's template as documented: a default system turn, then <|im_start|>role\ncontent<|im_end|>\n per turn. */
const chatml: TemplateRenderer = (_src, ctx) => {
  const turns = ctx.messages[0]?.role === 'system' ? ctx.messages : [{ role: 'system', content: QWEN_SYSTEM }, ...ctx.messages];
  const text = turns.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
  return ctx.add_generation_prompt ? `${text}<|im_start|>assistant\n` : text;
};

/** Llama 3 Instruct's template as documented: bos_token, then a header per turn, trimmed content, <|eot_id|>. */
const llama3: TemplateRenderer = (_src, ctx) => {
  const text = ctx.messages.map((m) => `<|start_header_id|>${m.role}<|end_header_id|>\n\n${m.content.trim()}<|eot_id|>`).join('');
  return `${ctx.bos_token}${text}${ctx.add_generation_prompt ? '<|start_header_id|>assistant<|end_header_id|>\n\n' : ''}`;
};

const CORPUS = ['Which drug treats hypertension? Lisinopril lowers blood pressure.', 'the patient has a fever and a cough'];
const QWEN_TOKENS = ['<|endoftext|>', '<|im_end|>', '<|endoftext_pad|>', '<|im_start|>'];
const LLAMA_TOKENS = ['<|begin_of_text|>', '<|end_of_text|>', '<|finetune_right_pad_id|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];

const EXAMPLE: SynthExample = {
  id: 'x', capability: 'domain', prompt: 'Which drug treats hypertension?', response: 'Lisinopril.', answer: 'Lisinopril',
  text: formatChat('Which drug treats hypertension?', 'Lisinopril.'),
} as SynthExample;

function tokenizer(specials: string[]): BpeTokenizer {
  return trainBpe(CORPUS, { vocabSize: 300, specialTokens: specials });
}

/** The text of the tokens the loss is computed on (supervisedBatch's mask), and of the rest. */
function maskedText(tok: BpeTokenizer, ex: SynthExample, chat: Parameters<typeof tokenizeExample>[3]): { trained: string; context: string } {
  const row = tokenizeExample(tok, ex, 256, chat);
  const batch = supervisedBatch([row], 0);
  const trainedIds = Array.from(batch.targets).filter((_, t) => batch.weights[t]! > 0);
  return { trained: tok.decode(trainedIds), context: tok.decode(row.ids.slice(0, row.promptLength)) };
}

const CASES: Array<{ name: string; specials: string[]; render: TemplateRenderer; prompt: string; response: string; endOfTurn: string }> = [
  {
    name: 'Qwen2.5 (ChatML)', specials: QWEN_TOKENS, render: chatml,
    prompt: `<|im_start|>system\n${QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\nWhich drug treats hypertension?<|im_end|>\n<|im_start|>assistant\n`,
    response: 'Lisinopril.<|im_end|>\n', endOfTurn: '<|im_end|>',
  },
  {
    name: 'Llama 3',
    specials: LLAMA_TOKENS, render: llama3,
    prompt: '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhich drug treats hypertension?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    response: 'Lisinopril.<|eot_id|>', endOfTurn: '<|eot_id|>',
  },
];

for (const c of CASES) {
  test(`chat template ${c.name}: prompt and response as rendered, loss mask on exactly the assistant turn, stop on its end-of-turn token`, () => {
    const tok = tokenizer(c.specials);
    const chat = templateChatFormat({ source: '{{ messages }}', file: 'm/tokenizer_config.json' }, tok, c.render);
    assert.equal(chat.prompt(EXAMPLE.prompt), c.prompt);
    assert.equal(chat.response(EXAMPLE.prompt, EXAMPLE.response), c.response);
    assert.deepEqual(chat.stop, [c.endOfTurn]);
    assert.deepEqual(chat.stopIds, [tok.tokenToId(c.endOfTurn)]);
    const { trained, context } = maskedText(tok, EXAMPLE, chat);
    assert.equal(context, c.prompt); // no BOS added beyond what the template writes, markers as special tokens
    assert.equal(trained, c.response); // the answer and its end of turn, no extra EOS
    const row = tokenizeExample(tok, EXAMPLE, 256, chat);
    assert.ok(row.ids.slice(row.promptLength).includes(tok.tokenToId(c.endOfTurn)!), 'the trained end of turn is the special token, not its spelling in bytes');
  });
}

test('the built-in format is unchanged: <|user|> markers as text, BOS in front, EOS after <|end|>', () => {
  const tok = tokenizer(['<|bos|>', '<|eos|>', '<|pad|>']);
  const chat = builtinChatFormat(tok);
  const { trained, context } = maskedText(tok, EXAMPLE, chat);
  assert.equal(context, `<|bos|><|user|>\n${EXAMPLE.prompt}\n<|assistant|>\n`);
  assert.equal(trained, `${EXAMPLE.response}\n<|end|><|eos|>`);
  assert.deepEqual(tokenizeExample(tok, EXAMPLE, 256).ids, tokenizeExample(tok, EXAMPLE, 256, chat).ids);
});

async function folder(t: TestContext, files: Record<string, string>): Promise<string> {
  const dir = await tempDir(t, 'bbio-chat-');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

test('the template is found where transformers looks: chat_template.jinja first, then tokenizer_config.json (string or named list)', async (t) => {
  const both = await folder(t, { 'chat_template.jinja': 'J', 'tokenizer_config.json': JSON.stringify({ chat_template: 'C' }) });
  assert.deepEqual(await readChatTemplate(both), { source: 'J', file: path.join(both, 'chat_template.jinja') });
  const listed = await folder(t, { 'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] }) });
  assert.equal((await readChatTemplate(listed))?.source, 'D');
  assert.equal(await readChatTemplate(await folder(t, { 'tokenizer_config.json': '{}' })), null);
  assert.equal(await readChatTemplate(await folder(t, {})), null);
});

test('a model without a chat template gets the fallback; a template that fails to render is E_CHAT_TEMPLATE naming the file', async (t) => {
  const tok = tokenizer(QWEN_TOKENS);
  const fallback = builtinChatFormat(tok);
  const none = await folder(t, { 'tokenizer_config.json': '{}' });
  assert.equal(await loadChatFormat(none, tok, fallback), fallback);
  assert.equal((await loadChatFormat(none, tok)).source, 'built-in');
  const dir = await folder(t, { 'tokenizer_config.json': JSON.stringify({ chat_template: '{{ raise_exception("no user turns here") }}' }) });
  await assert.rejects(loadChatFormat(dir, tok, fallback),
    (e: unknown) => e instanceof BbioError && e.code === 'E_CHAT_TEMPLATE' && e.message.includes(path.join(dir, 'tokenizer_config.json')) && e.message.includes('no user turns here'));
  assert.equal((await loadChatFormat(dir, tok, fallback, chatml)).stop[0], '<|im_end|>');
  // a template whose whole conversation does not start with its prompt cannot give an assistant-only mask
  const broken: TemplateRenderer = (src, ctx) => (ctx.add_generation_prompt ? 'A:' : 'B:') + chatml(src, ctx);
  assert.throws(() => templateChatFormat({ source: '', file: 'f.jinja' }, tok, broken), (e: unknown) => e instanceof BbioError && e.code === 'E_CHAT_TEMPLATE' && /f\.jinja/.test(e.message));
});

// ------------------------------------------------------------------ the real renderer on published templates

const FIXTURES = path.join(__dirname, '../../fixtures/chat-template');
const QUESTION = 'Which drug treats hypertension?';
const SYSTEM = 'You are a careful clinician.';
const ONE_TURN: ChatMessage[] = [{ role: 'user', content: QUESTION }];
const THREE_TURNS: ChatMessage[] = [{ role: 'system', content: SYSTEM }, { role: 'user', content: QUESTION }, { role: 'assistant', content: 'Lisinopril.' }];
/** Llama 3.1's system header: always written, with its knowledge cutoff and the default date_string. */
const LLAMA31_SYSTEM = '<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n';

const PUBLISHED: Array<{ name: string; folder: string; specials: string[]; oneTurn: string; threeTurns: string; response: string; endOfTurn: string }> = [
  {
    name: 'Qwen2.5-Instruct', folder: 'qwen2.5-instruct', specials: QWEN_TOKENS,
    // no system message: the template writes its default one
    oneTurn: `<|im_start|>system\n${QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\n`,
    threeTurns: `<|im_start|>system\n${SYSTEM}<|im_end|>\n<|im_start|>user\n${QUESTION}<|im_end|>\n<|im_start|>assistant\nLisinopril.<|im_end|>\n`,
    response: 'Lisinopril.<|im_end|>\n', endOfTurn: '<|im_end|>',
  },
  {
    name: 'Llama-3.1-Instruct', folder: 'llama-3.1-instruct', specials: LLAMA_TOKENS,
    oneTurn: `<|begin_of_text|>${LLAMA31_SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n${QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n`,
    threeTurns: `<|begin_of_text|>${LLAMA31_SYSTEM}${SYSTEM}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n${QUESTION}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nLisinopril.<|eot_id|>`,
    response: 'Lisinopril.<|eot_id|>', endOfTurn: '<|eot_id|>',
  },
];

for (const c of PUBLISHED) {
  test(`@huggingface/jinja renders the published ${c.name} template byte for byte as transformers does`, async () => {
    const dir = path.join(FIXTURES, c.folder);
    const template = (await readChatTemplate(dir))!;
    const specials = specialTokensOf(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')));
    const render = jinjaRenderer();
    assert.equal(render(template.source, { ...specials, messages: ONE_TURN, add_generation_prompt: true }), c.oneTurn);
    assert.equal(render(template.source, { ...specials, messages: THREE_TURNS, add_generation_prompt: false }), c.threeTurns);
  });

  test(`loadChatFormat on ${c.name}: the template's prompt, the assistant turn as the only trained span, its end-of-turn token as the stop`, async () => {
    const tok = tokenizer(c.specials);
    const chat = await loadChatFormat(path.join(FIXTURES, c.folder), tok);
    assert.equal(chat.source, path.join(FIXTURES, c.folder, 'tokenizer_config.json'));
    assert.equal(chat.prompt(QUESTION), c.oneTurn);
    assert.equal(chat.response(QUESTION, 'Lisinopril.'), c.response);
    assert.deepEqual(chat.stopIds, [tok.tokenToId(c.endOfTurn)]);
    const { trained, context } = maskedText(tok, EXAMPLE, chat);
    assert.equal(context, c.oneTurn);
    assert.equal(trained, c.response);
  });
}

test('the chat frame: the text a format writes around every prompt and answer, only when it writes them verbatim', async () => {
  const qwen = await loadChatFormat(path.join(FIXTURES, 'qwen2.5-instruct'), tokenizer(QWEN_TOKENS));
  assert.deepEqual(chatFrame(qwen, [EXAMPLE]), {
    prompt: [`<|im_start|>system\n${QWEN_SYSTEM}<|im_end|>\n<|im_start|>user\n`, '<|im_end|>\n<|im_start|>assistant\n'],
    response: ['', '<|im_end|>\n'],
  });
  const tok = tokenizer(['<|bos|>', '<|eos|>', '<|pad|>']);
  assert.deepEqual(chatFrame(builtinChatFormat(tok), [EXAMPLE]), { prompt: ['<|user|>\n', '\n<|assistant|>\n'], response: ['', '\n<|end|>'] });
  // Llama 3.1 trims the content: an answer with a trailing newline is not written verbatim, so no frame
  const llama = await loadChatFormat(path.join(FIXTURES, 'llama-3.1-instruct'), tokenizer(LLAMA_TOKENS));
  assert.notEqual(chatFrame(llama, [EXAMPLE]), null);
  assert.equal(chatFrame(llama, [EXAMPLE, { ...EXAMPLE, response: 'Lisinopril.\n' }]), null);
});
