// Reasoning (<think>) splitting: streamed at every boundary must equal the one-shot split; history policy;
// reasoning budget.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ReasoningParser, splitReasoning, historyPolicy, prepareHistory, ReasoningBudget } from '../dist/chat/reasoning.js';
import { ChatTemplate, builtinTemplate } from '../dist/chat/template.js';
import { splits as splitsOf } from './helpers/splits.js';
import { mulberry32 } from '../dist/ops/quantize.js';


const splits = (text) => splitsOf(text, { seed: 1, maxPiece: 6 });

function streamed(pieces, startsInThought) {
  const p = new ReasoningParser({ startsInThought });
  let reasoning = '';
  let content = '';
  for (const s of pieces) {
    const r = p.push(s);
    reasoning += r.reasoning;
    content += r.content;
  }
  const f = p.flush();
  return { reasoning: reasoning + f.reasoning, content: content + f.content };
}

const SAMPLES = [
  // [name, text, startsInThought, expected reasoning (null: no thought), expected content]
  ['R1 prompt-opened thought', 'Let me think.\n好的，用户问的是 2+2。\n</think>\n\n答案是 4。', true, 'Let me think.\n好的，用户问的是 2+2。', '答案是 4。'],
  ['R1 model repeats <think>', '<think>\nLet me think.\n</think>\n\nAnswer: 4', true, 'Let me think.', 'Answer: 4'],
  ['explicit <think> without prompt opener', '<think>\n推理过程\n</think>\n\n最终答案', false, '推理过程', '最终答案'],
  ['whitespace before <think>', ' \n<think>R</think>C', false, 'R', 'C'],
  ['no thought at all', 'Hello <think>x</think> world\n', false, null, 'Hello <think>x</think> world\n'],
  ['unclosed thought', 'thinking forever... 还在想', true, 'thinking forever... 还在想', ''],
  ['unclosed explicit thought', '<think>\nstill going\n\n', false, 'still going', ''],
  ['only the first block is reasoning', 'a</think>\n\nb<think>c</think>d', true, 'a', 'b<think>c</think>d'],
  ['content indentation kept', 'r</think>\n\n    indented code\n', true, 'r', '    indented code\n'],
  ['empty thought', '<think>\n\n</think>\n\nHi', false, '', 'Hi'],
  ['empty output', '', false, null, ''],
  ['empty output in thought', '', true, '', ''],
  ['partial close tag at the end stays reasoning', 'abc</thi', true, 'abc</thi', ''],
  ['partial open tag is content', '<thin', false, null, '<thin'],
  ['Chinese tight around tags', '中文推理</think>中文回答', true, '中文推理', '中文回答'],
  ['tag-like text inside reasoning', 'a < b and </thinking> is not a tag\n</think>\r\n\r\nok', true, 'a < b and </thinking> is not a tag', 'ok'],
  ['ideographic space before the close tag', '推理\u3000\n</think>\n答', true, '推理', '答'],
  ['reasoning paragraphs keep inner newlines', 'p1\n\n\np2  \n</think>\nc', true, 'p1\n\n\np2', 'c'],
];

test('splitReasoning gives the documented split', () => {
  for (const [name, text, sit, er, ec] of SAMPLES) {
    assert.deepEqual(splitReasoning(text, sit), { reasoning: er, content: ec }, name);
  }
});

test('streaming at every boundary equals the unsplit parse', () => {
  for (const [name, text, sit, er, ec] of SAMPLES) {
    for (const pieces of splits(text)) {
      const got = streamed(pieces, sit);
      assert.deepEqual(got, { reasoning: er ?? '', content: ec }, `${name} / ${JSON.stringify(pieces)}`);
    }
  }
});

test('never emits part of a tag; inThought tracks the thought', () => {
  const p = new ReasoningParser({ startsInThought: true });
  assert.equal(p.inThought, true);
  assert.deepEqual(p.push('abc </th'), { reasoning: 'abc', content: '' });
  assert.deepEqual(p.push('ink>\n'), { reasoning: '', content: '' });
  assert.equal(p.inThought, false);
  assert.deepEqual(p.push('\nx'), { reasoning: '', content: 'x' });
  assert.deepEqual(p.flush(), { reasoning: '', content: '' });

  const q = new ReasoningParser({ startsInThought: false });
  assert.equal(q.inThought, false);
  assert.deepEqual(q.push('\n<thi'), { reasoning: '', content: '' });
  assert.deepEqual(q.push('nk>'), { reasoning: '', content: '' });
  assert.equal(q.inThought, true);
  assert.deepEqual(q.push('x'), { reasoning: 'x', content: '' });
  assert.deepEqual(q.flush(), { reasoning: '', content: '' });

  const c = new ReasoningParser({ startsInThought: false, openTag: '[T]', closeTag: '[/T]' });
  const r1 = c.push('[T]a[/');
  const r2 = c.push('T]b');
  assert.deepEqual({ reasoning: r1.reasoning + r2.reasoning, content: r1.content + r2.content }, { reasoning: 'a', content: 'b' });
});

test('reasoning budget closes once after N thought tokens', () => {
  const b = new ReasoningBudget(3);
  assert.equal(b.onToken(false), 'continue');
  assert.deepEqual([b.onToken(true), b.onToken(true), b.onToken(true), b.onToken(true)], ['continue', 'continue', 'close', 'continue']);
  assert.equal(new ReasoningBudget(0).onToken(true), 'close');
  const inf = new ReasoningBudget(-1);
  for (let i = 0; i < 1000; i++) assert.equal(inf.onToken(true), 'continue');
  assert.throws(() => new ReasoningBudget(NaN), /reasoning budget/);
});

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const tpl = (src) => new ChatTemplate(src, { bosToken: BOS, eosToken: EOS });
const dsmlSrc = fs.readFileSync(new URL('./fixtures/templates/deepseek-v3.2-dsml.jinja', import.meta.url), 'utf8');

test('history policy per template traits', () => {
  assert.equal(historyPolicy(tpl(builtinTemplate('deepseek-r1')).traits), 'strip');
  assert.equal(historyPolicy(tpl(builtinTemplate('deepseek-r1-distill')).traits), 'strip');
  assert.equal(historyPolicy(tpl(builtinTemplate('deepseek-v3')).traits), 'strip');
  assert.equal(historyPolicy(tpl(builtinTemplate('deepseek-v3.1')).traits), 'strip');
  assert.equal(historyPolicy(tpl(dsmlSrc).traits), 'keep');
});

test('prepareHistory drops old thoughts and keeps the current tool turn when asked', () => {
  const call = { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } };
  const msgs = [
    { role: 'user', content: 'q1' },
    { role: 'assistant', content: '<think>old inline</think>\n\nA1', reasoning_content: 'old field' },
    { role: 'user', content: 'q2' },
    { role: 'assistant', content: null, reasoning_content: 'need f', tool_calls: [call] },
    { role: 'tool', content: 'r', tool_call_id: 'call_1' },
  ];
  const strip = prepareHistory(msgs, 'strip');
  assert.equal(strip[1].content, 'A1');
  assert.equal('reasoning_content' in strip[1], false);
  assert.equal('reasoning_content' in strip[3], false);
  assert.equal(msgs[1].reasoning_content, 'old field', 'input not mutated');

  const keep = prepareHistory(msgs, 'keep');
  assert.equal(keep[1].content, 'A1');
  assert.equal('reasoning_content' in keep[1], false);
  assert.equal(keep[3].reasoning_content, 'need f');
  assert.equal(keep[3].content, null);

  const inline = prepareHistory(msgs, 'keep', { inline: true });
  assert.equal(inline[3].content, '<think>need f</think>');
  assert.equal('reasoning_content' in inline[3], false);

  // Rendered through a V3.2-style template: the current turn's thought is in the prompt, the old one is not.
  const prompt = tpl(dsmlSrc).render(keep, { addGenerationPrompt: true });
  assert.ok(prompt.includes('<think>need f</think>'));
  assert.ok(!prompt.includes('old'));
});

test('fuzz: random tag soup is split-invariant and never loses non-whitespace text', () => {
  const parts = ['<think>', '</think>', '<', '</', '<thi', 'nk>', '\n', '\r\n', ' ', '推理', 'abc', '>', '</th'];
  const rnd = mulberry32(99);
  for (let n = 0; n < 400; n++) {
    let text = '';
    const len = 1 + Math.floor(rnd() * 12);
    for (let i = 0; i < len; i++) text += parts[Math.floor(rnd() * parts.length)];
    const sit = n % 2 === 0;
    const one = splitReasoning(text, sit);
    const whole = { reasoning: one.reasoning ?? '', content: one.content };
    assert.deepEqual(streamed(text.split(''), sit), whole, JSON.stringify(text));
    const cut = Math.floor(rnd() * (text.length + 1));
    assert.deepEqual(streamed([text.slice(0, cut), text.slice(cut)], sit), whole, JSON.stringify(text));
    // Only tags and framing whitespace may disappear.
    const strip = (s) => s.replace(/<\/?think>/g, '').replace(/\s+/g, '');
    assert.equal(strip(whole.reasoning + whole.content), strip(text).replace(/\s+/g, ''), JSON.stringify(text));
  }
});
