// Chat templates: built-in DeepSeek templates render the prompts given in deepseek-reference.md section 10;
// traits come from probing the template; errors are clear TemplateErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { ChatTemplate, TemplateError, builtinTemplate, promptEndsInThought } from '../dist/chat/template.js';

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const tpl = (src, bos = BOS, eos = EOS) => new ChatTemplate(src, { bosToken: bos, eosToken: eos });
const fixture = (name) => fs.readFileSync(new URL(`./fixtures/templates/${name}`, import.meta.url), 'utf8');
const F = '```';

const HELLO = [
  { role: 'system', content: 'You are helpful.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
  { role: 'user', content: '2+2?' },
];

const WEATHER_TOOL = {
  type: 'function',
  function: { name: 'get_weather', description: 'Get the weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const TOOL_TURN = [
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
  { role: 'tool', content: '{"temp":21}', tool_call_id: 'call_1' },
];

test('DeepSeek-V3: the reference example (10.3)', () => {
  const t = tpl(builtinTemplate('deepseek-v3'));
  assert.equal(
    t.render(HELLO, { addGenerationPrompt: true }),
    '<｜begin▁of▁sentence｜>You are helpful.<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜>',
  );
  // No generation prompt; several system messages are joined with a blank line.
  assert.equal(
    t.render([{ role: 'system', content: 'A' }, { role: 'system', content: 'B' }, { role: 'user', content: 'Q' }], { addGenerationPrompt: false }),
    `${BOS}A\n\nB<｜User｜>Q`,
  );
});

test('DeepSeek-V3: tool calls, tool outputs and tool definitions', () => {
  const t = tpl(builtinTemplate('deepseek-v3'));
  const out = t.render(TOOL_TURN, { addGenerationPrompt: true, tools: [WEATHER_TOOL] });
  const convo =
    '<｜User｜>Weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n' +
    `${F}json\n{"city":"Paris"}\n${F}<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>` +
    '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"temp":21}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>';
  assert.ok(out.endsWith(convo), out);
  const system = out.slice(BOS.length, out.length - convo.length);
  assert.ok(system.startsWith('## Tools\nYou have access to the following tools:\n\n### get_weather\nDescription: Get the weather\n'), system);
  assert.ok(system.includes('Parameters: {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}'), system);
  assert.ok(system.includes(`function<｜tool▁sep｜>tool_call_name\n${F}json\ntool_call_arguments\n${F}<｜tool▁call▁end｜>`), system);
  // Two calls in one turn; the final answer after the tool outputs closes the outputs block.
  const two = t.render([
    { role: 'user', content: 'q' },
    { role: 'assistant', content: 'Checking.', tool_calls: [
      { id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } },
      { id: 'b', type: 'function', function: { name: 'g', arguments: '{"x":1}' } }] },
    { role: 'tool', content: 'r1' },
    { role: 'tool', content: 'r2' },
    { role: 'assistant', content: 'Done.' },
  ], { addGenerationPrompt: false });
  assert.equal(two,
    `${BOS}<｜User｜>q<｜Assistant｜>Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n${F}json\n{}\n${F}<｜tool▁call▁end｜>` +
    `\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>g\n${F}json\n{"x":1}\n${F}<｜tool▁call▁end｜><｜tool▁calls▁end｜><｜end▁of▁sentence｜>` +
    '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>r1<｜tool▁output▁end｜><｜tool▁output▁begin｜>r2<｜tool▁output▁end｜>' +
    '<｜tool▁outputs▁end｜>Done.<｜end▁of▁sentence｜>');
});

test('DeepSeek-R1: reasoning stripped from history, generation prompt opens <think>', () => {
  const t = tpl(builtinTemplate('deepseek-r1'));
  const msgs = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: '<think>\nThe user greets me.\n</think>\n\nHello!' },
    { role: 'user', content: '2+2?' },
  ];
  assert.equal(
    t.render(msgs, { addGenerationPrompt: true }),
    '<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜>\n\nHello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n',
  );
  assert.equal(t.render([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true }), `${BOS}<｜User｜>Hi<｜Assistant｜><think>\n`);
});

test('R1-Distill (Qwen/Llama): last system prompt, "\\n" between tool outputs, <think> prompt', () => {
  const t = tpl(builtinTemplate('deepseek-r1-distill'));
  assert.equal(
    t.render([{ role: 'system', content: 'old' }, { role: 'system', content: 'S' }, ...HELLO.slice(1)], { addGenerationPrompt: true }),
    `${BOS}S<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>2+2?<｜Assistant｜><think>\n`,
  );
  const out = t.render([...TOOL_TURN, { role: 'tool', content: 'more' }], { addGenerationPrompt: true });
  assert.ok(out.endsWith('<｜tool▁output▁begin｜>{"temp":21}<｜tool▁output▁end｜>\n<｜tool▁output▁begin｜>more<｜tool▁output▁end｜><｜tool▁outputs▁end｜>'), out);
});

test('DeepSeek-V3.1: thinking on/off; the official V3.2 example prompt', () => {
  const t = tpl(builtinTemplate('deepseek-v3.1'));
  const msgs = [
    { role: 'user', content: 'hello' },
    { role: 'assistant', content: 'Hello! I am DeepSeek.' },
    { role: 'user', content: '1+1=?' },
  ];
  // deepseek-reference.md 10.6 (encode_messages(..., thinking_mode="thinking")).
  assert.equal(
    t.render(msgs, { addGenerationPrompt: true, extra: { thinking: true } }),
    '<｜begin▁of▁sentence｜><｜User｜>hello<｜Assistant｜></think>Hello! I am DeepSeek.<｜end▁of▁sentence｜><｜User｜>1+1=?<｜Assistant｜><think>',
  );
  const off = t.render(msgs, { addGenerationPrompt: true, extra: { thinking: false } });
  assert.ok(off.endsWith('<｜User｜>1+1=?<｜Assistant｜></think>'));
  assert.equal(t.render(msgs, { addGenerationPrompt: true }), off, 'thinking defaults to off');
  assert.ok(t.render(msgs, { addGenerationPrompt: true, extra: { enable_thinking: true } }).endsWith('<｜Assistant｜><think>'), 'enable_thinking alias');
  // Old reasoning is cut up to the first </think>.
  const cut = t.render([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'r</think>x</think>y' }], { addGenerationPrompt: false });
  assert.equal(cut, `${BOS}<｜User｜>a<｜Assistant｜></think>x</think>y<｜end▁of▁sentence｜>`);
});

test('DeepSeek-V3.1: tools and tool calls', () => {
  const t = tpl(builtinTemplate('deepseek-v3.1'));
  const out = t.render([{ role: 'system', content: 'Sys.' }, ...TOOL_TURN, { role: 'assistant', content: 'It is 21 °C.' }, { role: 'user', content: 'Thanks' }], {
    addGenerationPrompt: true,
    tools: [WEATHER_TOOL],
  });
  assert.ok(out.startsWith(`${BOS}Sys.\n\n## Tools\nYou have access to the following tools:\n\n### get_weather\n`), out);
  assert.ok(out.includes('IMPORTANT: ALWAYS adhere to this exact format for tool use:\n<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments<｜tool▁call▁end｜>'));
  assert.ok(out.endsWith(
    '<｜User｜>Weather in Paris?<｜Assistant｜></think><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city":"Paris"}<｜tool▁call▁end｜>' +
    '<｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁output▁begin｜>{"temp":21}<｜tool▁output▁end｜>It is 21 °C.<｜end▁of▁sentence｜>' +
    '<｜User｜>Thanks<｜Assistant｜></think>'), out);
  // Without tools no tool section is rendered.
  assert.ok(!t.render(TOOL_TURN, { addGenerationPrompt: true }).includes('## Tools'));
});

test('DeepSeek-LLM / V2 and Coder v1 formats (10.1, 10.2)', () => {
  const v2 = tpl(builtinTemplate('deepseek-v2'));
  const msgs = [{ role: 'user', content: 'u1' }, { role: 'assistant', content: 'a1' }, { role: 'user', content: 'u2' }];
  assert.equal(v2.render(msgs, { addGenerationPrompt: true }), `${BOS}User: u1\n\nAssistant: a1${EOS}User: u2\n\nAssistant:`);
  assert.equal(v2.render([{ role: 'system', content: 'S' }, msgs[0]], { addGenerationPrompt: true }), `${BOS}S\n\nUser: u1\n\nAssistant:`);
  assert.equal(builtinTemplate('deepseek-llm'), builtinTemplate('deepseek-v2'));
  const coder = tpl(builtinTemplate('deepseek-coder'), BOS, '<|EOT|>');
  const out = coder.render(msgs, { addGenerationPrompt: true });
  assert.ok(out.startsWith(`${BOS}You are an AI programming assistant, utilizing the DeepSeek Coder model`));
  assert.ok(out.endsWith('you will refuse to answer\n### Instruction:\nu1\n### Response:\na1\n<|EOT|>\n### Instruction:\nu2\n### Response:'), out);
});

test('traits come from probing, not from names', () => {
  const cases = {
    'deepseek-v3': { endsWithThinkOpen: false, supportsThinkingToggle: false, stripsReasoningFromHistory: false, toolFormat: 'v3', rendersReasoningContent: false },
    'deepseek-r1': { endsWithThinkOpen: true, supportsThinkingToggle: false, stripsReasoningFromHistory: true, toolFormat: 'v3', rendersReasoningContent: false },
    'deepseek-r1-distill': { endsWithThinkOpen: true, supportsThinkingToggle: false, stripsReasoningFromHistory: true, toolFormat: 'v3', rendersReasoningContent: false },
    'deepseek-v3.1': { endsWithThinkOpen: false, supportsThinkingToggle: true, stripsReasoningFromHistory: true, toolFormat: 'v3.1', rendersReasoningContent: false },
    'deepseek-v2': { endsWithThinkOpen: false, supportsThinkingToggle: false, stripsReasoningFromHistory: false, toolFormat: 'none', rendersReasoningContent: false },
    'deepseek-coder': { endsWithThinkOpen: false, supportsThinkingToggle: false, stripsReasoningFromHistory: false, toolFormat: 'none', rendersReasoningContent: false },
  };
  for (const [name, traits] of Object.entries(cases)) assert.deepEqual({ ...tpl(builtinTemplate(name)).traits }, traits, name);
  assert.deepEqual({ ...tpl(fixture('deepseek-v3.2-dsml.jinja')).traits },
    { endsWithThinkOpen: true, supportsThinkingToggle: true, stripsReasoningFromHistory: true, toolFormat: 'dsml', rendersReasoningContent: true });
  assert.deepEqual({ ...tpl(fixture('r1-renamed.jinja')).traits },
    { endsWithThinkOpen: true, supportsThinkingToggle: false, stripsReasoningFromHistory: true, toolFormat: 'v3', rendersReasoningContent: false });
  assert.deepEqual({ ...tpl(fixture('chatml-no-think.jinja')).traits },
    { endsWithThinkOpen: false, supportsThinkingToggle: false, stripsReasoningFromHistory: false, toolFormat: 'none', rendersReasoningContent: false });
});

test('promptEndsInThought', () => {
  assert.equal(promptEndsInThought('<｜Assistant｜><think>\n'), true);
  assert.equal(promptEndsInThought('<｜Assistant｜><think>'), true);
  assert.equal(promptEndsInThought('<｜Assistant｜></think>'), false);
  assert.equal(promptEndsInThought('<think>a</think><｜Assistant｜>'), false);
  assert.equal(promptEndsInThought('<think>partial text'), false);
  assert.equal(promptEndsInThought('no tags'), false);
});

test('errors: missing template, syntax errors, raise_exception, unknown built-in', () => {
  for (const src of ['', '   ', null, undefined]) {
    assert.throws(() => tpl(src), (e) => e instanceof TemplateError && /no chat template.*--chat-template/.test(e.message));
  }
  assert.throws(() => tpl('{% if %}'), (e) => e instanceof TemplateError && /does not parse/.test(e.message));
  const strict = tpl("{%- for m in messages -%}{%- if m['role'] == 'tool' -%}{{ raise_exception('tool role not supported') }}{%- endif -%}{{ m['content'] }}{%- endfor -%}");
  assert.equal(strict.render([{ role: 'user', content: 'ok' }], { addGenerationPrompt: false }), 'ok');
  assert.throws(() => strict.render([{ role: 'tool', content: 'x' }], { addGenerationPrompt: false }),
    (e) => e instanceof TemplateError && /tool role not supported/.test(e.message));
  assert.throws(() => builtinTemplate('deepseek-v9'), /unknown built-in chat template "deepseek-v9"/);
  assert.throws(() => tpl(builtinTemplate('deepseek-v3')).render([{ role: 'user', content: 5 }], { addGenerationPrompt: true }), TemplateError);
});

test('HF globals: strftime_now and tojson; extra kwargs reach the template', () => {
  const t = tpl("{{ strftime_now('%Y') }}|{{ {'a': [1, 'é']} | tojson }}|{{ custom_flag }}");
  const [year, json, flag] = t.render([], { addGenerationPrompt: false, extra: { custom_flag: 'on' } }).split('|');
  assert.match(year, /^\d{4}$/);
  assert.equal(json, '{"a": [1, "é"]}');
  assert.equal(flag, 'on');
});

test('tool-call arguments: JSON text for V3-style templates, parsed objects for DSML templates', () => {
  const call = (args) => [{ role: 'user', content: 'w?' }, { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: args } }] }];
  const dsml = tpl(fixture('deepseek-v3.2-dsml.jinja'));
  const out = dsml.render(call('{"city":"Paris","days":2}'), { addGenerationPrompt: false });
  assert.ok(out.includes('<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n<｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>\n</｜DSML｜invoke>'), out);
  const v3 = tpl(builtinTemplate('deepseek-v3'));
  assert.ok(v3.render(call({ x: 1 }), { addGenerationPrompt: false }).includes(`f\n${F}json\n{"x":1}\n${F}`), 'object arguments are serialised');
});
