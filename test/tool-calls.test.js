// DeepSeek tool-call parsing (V3 / V3.1 / V3.2 DSML): streamed at every boundary must equal the unsplit
// parse; arguments are always valid JSON; malformed blocks degrade to content without losing text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ToolCallParser } from '../dist/chat/tool-calls.js';
import { splits as splitsOf } from './helpers/splits.js';
import { mulberry32 } from '../dist/ops/quantize.js';


const splits = (text) => splitsOf(text, { seed: 3, maxPiece: 8 });

/** Parse pieces; check the event protocol; return { content, calls }. */
function parse(format, pieces) {
  const p = new ToolCallParser(format, { rng: mulberry32(42) });
  let content = '';
  const events = [];
  for (const s of pieces) {
    const r = p.push(s);
    content += r.content;
    events.push(...r.events);
  }
  const f = p.flush();
  content += f.content;
  events.push(...f.events);
  const calls = [];
  const open = new Set();
  for (const e of events) {
    if (e.type === 'start') {
      assert.equal(e.index, calls.length, 'indices are 0, 1, 2, ...');
      assert.match(e.id, /^call_[A-Za-z0-9_]+$/);
      assert.ok(e.name.length > 0);
      calls.push({ id: e.id, name: e.name, arguments: '' });
      open.add(e.index);
    } else if (e.type === 'args') {
      assert.ok(open.has(e.index), 'args only between start and end');
      assert.ok(e.delta.length > 0, 'no empty deltas');
      calls[e.index].arguments += e.delta;
    } else {
      assert.ok(open.has(e.index), 'end after start, once');
      open.delete(e.index);
    }
  }
  assert.equal(open.size, 0, 'every call ends');
  for (const c of calls) {
    const v = JSON.parse(c.arguments); // must be valid JSON text
    assert.equal(typeof v, 'object');
    assert.ok(v !== null && !Array.isArray(v), 'arguments are a JSON object');
  }
  assert.deepEqual(p.calls.map((c) => c.arguments), calls.map((c) => c.arguments));
  return { content, calls: calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) })), ids: calls.map((c) => c.id) };
}

const TB = '<｜tool▁calls▁begin｜>';
const TE = '<｜tool▁calls▁end｜>';
const CB = '<｜tool▁call▁begin｜>';
const CE = '<｜tool▁call▁end｜>';
const SEP = '<｜tool▁sep｜>';
const F = '```';

const SAMPLES = [
  // [name, format, text, expected content, expected calls]
  ['V3 two calls after content', 'v3',
    `Let me check.\n\n${TB}${CB}function${SEP}get_weather\n${F}json\n{"city": "Paris"}\n${F}${CE}\n${CB}function${SEP}get_time\n${F}json\n{"tz": "CET"}\n${F}${CE}${TE}`,
    'Let me check.', [{ name: 'get_weather', arguments: { city: 'Paris' } }, { name: 'get_time', arguments: { tz: 'CET' } }]],
  ['V3 bare json prefix, no outer begin marker', 'v3',
    `${CB}function${SEP}f\njson\n{"x": [1, 2.5e3, true, null]}${CE}`,
    '', [{ name: 'f', arguments: { x: [1, 2500, true, null] } }]],
  ['V3 backticks inside a JSON string', 'v3',
    `${TB}${CB}function${SEP}run\n${F}json\n{"code": "${F}js\\nlet a = 1;${F}"}\n${F}${CE}${TE}`,
    '', [{ name: 'run', arguments: { code: '```js\nlet a = 1;```' } }]],
  ['V3.1 Chinese arguments', 'v3.1',
    `好的，我来查询。${TB}${CB}get_weather${SEP}{"city": "北京", "unit": "摄氏度"}${CE}${TE}`,
    '好的，我来查询。', [{ name: 'get_weather', arguments: { city: '北京', unit: '摄氏度' } }]],
  ['V3.1 three calls, text after the block', 'v3.1',
    `${TB}${CB}a${SEP}{}${CE}${CB}b${SEP}{"n": -1}${CE}${CB}c_d.e${SEP}{"s": "x\\"y\\u4e2d"}${CE}${TE}\nDone.`,
    '\nDone.', [{ name: 'a', arguments: {} }, { name: 'b', arguments: { n: -1 } }, { name: 'c_d.e', arguments: { s: 'x"y中' } }]],
  ['V3.1 empty arguments become {}', 'v3.1',
    `${TB}${CB}ping${SEP}${CE}${TE}`, '', [{ name: 'ping', arguments: {} }]],
  ['V3.1 truncated arguments are completed', 'v3.1',
    `${TB}${CB}f${SEP}{"a": "line\nbreak", "b": tru`, '', [{ name: 'f', arguments: { a: 'line\nbreak', b: true } }]],
  ['V3.1 truncated inside a key', 'v3.1',
    `${TB}${CB}f${SEP}{"a": 1, "ke`, '', [{ name: 'f', arguments: { a: 1, ke: null } }]],
  ['V3.1 junk after the object goes to content', 'v3.1',
    `${TB}${CB}f${SEP}{"a": 1} oops${CE}${TE}`, 'oops', [{ name: 'f', arguments: { a: 1 } }]],
  ['V3.1 generation stops before the closing marker', 'v3.1',
    `${TB}${CB}f${SEP}{"a": 1}${CE}<｜tool▁calls`, '', [{ name: 'f', arguments: { a: 1 } }]],
  ['DSML with Chinese, string and JSON parameters', 'dsml',
    '好的\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name="search">\n<｜DSML｜parameter name="query" string="true">上海 天气 "今天"</｜DSML｜parameter>\n<｜DSML｜parameter name="top_k" string="false">5</｜DSML｜parameter>\n<｜DSML｜parameter name="filters" string="false">{"lang": ["zh", "en"]}</｜DSML｜parameter>\n</｜DSML｜invoke>\n<｜DSML｜invoke name="noop">\n</｜DSML｜invoke>\n</｜DSML｜function_calls>',
    '好的', [{ name: 'search', arguments: { query: '上海 天气 "今天"', top_k: 5, filters: { lang: ['zh', 'en'] } } }, { name: 'noop', arguments: {} }]],
  ['DSML string="false" that is not JSON stays a string', 'dsml',
    '<｜DSML｜function_calls>\n<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="v" string="false">not json</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>',
    '', [{ name: 'f', arguments: { v: 'not json' } }]],
  ['DSML truncated mid-parameter', 'dsml',
    '<｜DSML｜function_calls>\n<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="a" string="true">par',
    '', [{ name: 'f', arguments: { a: 'par' } }]],
  ['auto detects V3, V3.1 and DSML', 'auto',
    `A${TB}${CB}function${SEP}x\n${F}json\n{"k": 1}\n${F}${CE}${TE}B${TB}${CB}y${SEP}{"k": 2}${CE}${TE}C<｜DSML｜function_calls><｜DSML｜invoke name="z"><｜DSML｜parameter name="k" string="false">3</｜DSML｜parameter></｜DSML｜invoke></｜DSML｜function_calls>`,
    'ABC', [{ name: 'x', arguments: { k: 1 } }, { name: 'y', arguments: { k: 2 } }, { name: 'z', arguments: { k: 3 } }]],
  ['malformed block degrades to content', 'v3',
    `x ${TB}garbage here`, `x ${TB}garbage here`, []],
  ['malformed header (newline, no separator) degrades', 'v3.1',
    `ok ${TB}${CB}bad name\nmore text`, `ok ${TB}${CB}bad name\nmore text`, []],
  ['block opener alone at the end degrades', 'v3.1', `Hi${TB}`, `Hi${TB}`, []],
  ['malformed DSML invoke degrades', 'dsml',
    'pre <｜DSML｜function_calls>\n<｜DSML｜invoke nom="f">\n', 'pre <｜DSML｜function_calls>\n<｜DSML｜invoke nom="f">\n', []],
  ['malformed then a good block', 'v3.1',
    `${TB}??${TB}${CB}f${SEP}{"a": [1]}${CE}${TE}`, `${TB}??`, [{ name: 'f', arguments: { a: [1] } }]],
  ['plain text with lookalike markup', 'auto',
    'a < b, <｜tool is not a marker, <｜DSML｜x either\n', 'a < b, <｜tool is not a marker, <｜DSML｜x either\n', []],
  ['trailing partial marker text is released at flush', 'auto', 'end <｜tool▁ca', 'end <｜tool▁ca', []],
];

test('each sample parses to the expected content and calls', () => {
  for (const [name, format, text, content, calls] of SAMPLES) {
    const got = parse(format, [text]);
    assert.deepEqual({ content: got.content, calls: got.calls }, { content, calls }, name);
  }
});

test('streaming at every boundary equals the unsplit parse', () => {
  for (const [name, format, text] of SAMPLES) {
    const whole = parse(format, [text]);
    for (const pieces of splits(text)) {
      assert.deepEqual(parse(format, pieces), whole, `${name} / ${JSON.stringify(pieces)}`);
    }
  }
});

test('special-token text of well-formed blocks never reaches content', () => {
  for (const [name, format, text, content] of SAMPLES.slice(0, 14)) {
    for (const pieces of [[text], text.split('')]) {
      const got = parse(format, pieces).content;
      assert.ok(!/<｜tool|｜DSML｜|```/.test(got), `${name}: ${JSON.stringify(got)}`);
      assert.equal(got, content);
    }
  }
});

test('arguments stream as deltas after the name', () => {
  const p = new ToolCallParser('v3.1', { rng: mulberry32(1) });
  const a = p.push(`${TB}${CB}get_weather${SEP}{"city": "Pa`);
  assert.equal(a.content, '');
  assert.equal(a.events[0].type, 'start');
  assert.equal(a.events[0].name, 'get_weather');
  assert.deepEqual(a.events.slice(1), [{ type: 'args', index: 0, delta: '{"city": "Pa' }]);
  const b = p.push(`ris"}${CE}${TE}`);
  assert.deepEqual(b.events, [{ type: 'args', index: 0, delta: 'ris"}' }, { type: 'end', index: 0 }]);
  assert.deepEqual(p.flush(), { content: '', events: [] });
});

test('ids are unique call_ ids', () => {
  const text = `${TB}${CB}a${SEP}{}${CE}${CB}b${SEP}{}${CE}${TE}`;
  const fixed = new ToolCallParser('v3.1', { rng: () => 0.5 });
  const ev = [...fixed.push(text).events, ...fixed.flush().events].filter((e) => e.type === 'start');
  assert.equal(new Set(ev.map((e) => e.id)).size, 2, 'unique even with a constant rng');
  const ids = new Set();
  for (let i = 0; i < 20; i++) {
    const p = new ToolCallParser('v3.1');
    for (const e of [...p.push(text).events, ...p.flush().events]) if (e.type === 'start') ids.add(e.id);
  }
  assert.equal(ids.size, 40);
  const custom = new ToolCallParser('v3.1', { idPrefix: 'tool-' });
  assert.match(custom.push(text).events[0].id, /^tool-/);
});

test('unknown format is a clear error; none means auto', () => {
  assert.throws(() => new ToolCallParser('xml'), /unknown tool-call format "xml"/);
  const p = new ToolCallParser('none');
  const r = p.push(`${TB}${CB}f${SEP}{}${CE}${TE}`);
  assert.equal(r.events[0].name, 'f');
});

test('V3-style calls are understood by the V3.1 parser too', () => {
  const got = parse('v3.1', [`${TB}${CB}function${SEP}f\n${F}json\n{"a": 1}\n${F}${CE}${TE}`]);
  assert.deepEqual(got.calls, [{ name: 'f', arguments: { a: 1 } }]);
  assert.equal(got.content, '');
});

test('fuzz: random marker soup never throws, always yields JSON arguments, and is split-invariant', () => {
  const parts = [TB, TE, CB, CE, SEP, 'function', 'get_x', '\n', `${F}json\n`, F, '{"a": ', '"s', '\\', '"', '1', ', ', '}', '[', ']',
    'tru', 'e', 'null', ' ', '中文', 'json', '<｜DSML｜function_calls>', '</｜DSML｜function_calls>', '<｜DSML｜invoke name="f">',
    '</｜DSML｜invoke>', '<｜DSML｜parameter name="p" string="false">', '<｜DSML｜parameter name="q" string="true">', '</｜DSML｜parameter>', '<', '｜', 'x'];
  const rnd = mulberry32(2024);
  for (let n = 0; n < 300; n++) {
    let text = '';
    const len = 1 + Math.floor(rnd() * 25);
    for (let i = 0; i < len; i++) text += parts[Math.floor(rnd() * parts.length)];
    const format = ['v3', 'v3.1', 'dsml', 'auto'][n % 4];
    const whole = parse(format, [text]);
    const cuts = [text.split('')];
    for (let k = 0; k < 3; k++) {
      const pieces = [];
      let i = 0;
      while (i < text.length) {
        const m = 1 + Math.floor(rnd() * 5);
        pieces.push(text.slice(i, i + m));
        i += m;
      }
      cuts.push(pieces);
    }
    for (const pieces of cuts) assert.deepEqual(parse(format, pieces), whole, `${format} ${JSON.stringify(text)}`);
  }
});

test('fuzz: mutated well-formed samples (truncated, cut, spliced) stay consistent', () => {
  const rnd = mulberry32(77);
  const good = SAMPLES.slice(0, 14);
  const junk = ['"', '{', '}', '\n', F, CE, SEP, '</｜DSML｜parameter>', 'x', '中'];
  let calls = 0;
  for (let n = 0; n < 400; n++) {
    const [, format, base] = good[n % good.length];
    let text = base;
    const a = Math.floor(rnd() * text.length);
    const b = a + Math.floor(rnd() * 12);
    const kind = n % 3;
    if (kind === 0) text = text.slice(0, a);
    else if (kind === 1) text = text.slice(0, a) + text.slice(b);
    else text = text.slice(0, a) + junk[Math.floor(rnd() * junk.length)] + text.slice(a);
    const whole = parse(format, [text]);
    calls += whole.calls.length;
    for (const pieces of [text.split(''), [text.slice(0, b), text.slice(b)]]) {
      assert.deepEqual(parse(format, pieces), whole, `${format} ${JSON.stringify(text)}`);
    }
  }
  assert.ok(calls > 200, `mutations still produce calls (${calls})`);
});
