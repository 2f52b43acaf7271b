// The web chat page: Markdown rendering safety (in Node) and the page itself in headless
// Chromium (playwright-core + Debian's chromium) against a server with a deterministic fake engine.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { renderMarkdown } from '../web/markdown.js';
import { startServer } from '../dist/server/server.js';
import { FakeEngine } from './helpers/server-fake-engine.js';

const CHROMIUM = '/usr/bin/chromium';

test('markdown: structure, and no HTML or script from model output', () => {
  const html = renderMarkdown('# T\n\n**b** *i* `x<y`\n\n```js\nlet s = "</code><script>alert(1)</script>";\n```\n- a\n- b\n\n| h |\n|---|\n| 中文 |');
  assert.match(html, /<h1>T<\/h1>/);
  assert.match(html, /<strong>b<\/strong> <em>i<\/em> <code>x&lt;y<\/code>/);
  assert.match(html, /<pre><code class="language-js">let s = &quot;&lt;\/code&gt;&lt;script&gt;/);
  assert.match(html, /<ul><li>a<\/li><li>b<\/li><\/ul>/);
  assert.match(html, /<td>中文<\/td>/);
  const evil = [
    '<img src=x onerror=alert(1)>',
    '[x](javascript:alert(1))',
    '[x](JaVaScRiPt:alert(1))',
    '[x](data:text/html,<script>alert(1)</script>)',
    '[a"onmouseover="alert(1)](https://ok.example/")',
    '<script>alert(1)</script>',
    '``<b>``',
    '> <iframe src=x>',
    '| <svg onload=alert(1)> |\n|---|\n| x |',
    '# <a href=javascript:1>x</a>',
    '- <style>*{}</style>',
  ];
  for (const src of evil) {
    const out = renderMarkdown(src);
    assert.doesNotMatch(out, /<(img|script|iframe|svg|style)\b/i, out);
    assert.doesNotMatch(out, /href="(?!https?:|mailto:)/i, out);
    assert.doesNotMatch(out, /<a [^>]*\son\w+=/i, out);
  }
  assert.match(renderMarkdown('[ok](https://example.com/?a=1&b=2)'), /<a href="https:\/\/example\.com\/\?a=1&amp;b=2" target="_blank" rel="noopener noreferrer nofollow">ok<\/a>/);
});

const haveChromium = fs.existsSync(CHROMIUM);

test('web page in headless Chromium: streamed reasoning and answer, stop, persistence', { skip: haveChromium ? false : `${CHROMIUM} is missing (apt-get install -y chromium)`, timeout: 60_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const engine = new FakeEngine({ delayMs: 15, reasoning: '让我想想。', answer: '答案是 **42**。\n\n```js\nlet x = "<b>";\n```' });
  const srv = await startServer({ engine, port: 0, apiKey: 'k1' });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  after(async () => {
    await browser.close().catch(() => {});
    await srv.close({ timeoutMs: 100 });
  });
  await srv.ready;
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && !/401|Failed to load resource/.test(m.text()) && errors.push(m.text()));
  await page.goto(srv.url + '/');
  await page.click('#settings summary');
  await page.fill('#set-apikey', 'k1');
  await page.fill('#set-max_tokens', '64');
  await page.dispatchEvent('#set-max_tokens', 'change');

  // 1. a full answer: the reasoning block is open while thinking and folded after the answer starts
  await page.fill('#prompt', '你好，世界');
  await page.click('#send');
  await page.waitForFunction(() => {
    const d = document.querySelector('.msg.assistant details.reasoning');
    return d && !d.hidden && d.open && d.textContent.includes('让');
  });
  await page.waitForSelector('#send:not([disabled])', { timeout: 20_000 });
  const done = await page.evaluate(() => {
    const msg = [...document.querySelectorAll('.msg.assistant')].at(-1);
    const d = msg.querySelector('details.reasoning');
    return { reasoning: d.querySelector('.reasoning-body').textContent, open: d.open, html: msg.querySelector('.content').innerHTML, user: document.querySelector('.msg.user .content').textContent };
  });
  assert.equal(done.reasoning, '让我想想。');
  assert.equal(done.open, false, 'reasoning folds away after the answer');
  assert.match(done.html, /答案是 <strong>42<\/strong>。/);
  assert.match(done.html, /<code class="language-js">let x = "&lt;b&gt;";<\/code>/);
  assert.equal(done.user, '你好，世界');

  // 2. stop mid-generation: the fetch is aborted and the server frees the slot
  engine.delayMs = 100;
  await page.fill('#prompt', 'again');
  await page.click('#send');
  await page.waitForFunction(() => [...document.querySelectorAll('.msg.assistant .reasoning-body')].at(-1)?.textContent.length > 0);
  await page.click('#stop');
  await page.waitForSelector('#send:not([disabled])');
  const meta = await page.evaluate(() => [...document.querySelectorAll('.msg.assistant .meta')].at(-1).textContent);
  assert.equal(meta, '(stopped)');
  const t0 = Date.now();
  while (srv.app.pool.inUse > 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.app.pool.inUse, 0, 'the stopped generation freed its slot');
  assert.ok(engine.aborted >= 1);

  // 3. conversations survive a reload (localStorage)
  await page.reload();
  await page.waitForSelector('.msg.assistant');
  const count = await page.evaluate(() => ({ convs: document.querySelectorAll('#conversations li').length, msgs: document.querySelectorAll('.msg').length }));
  assert.deepEqual(count, { convs: 1, msgs: 4 });
  assert.deepEqual(errors, []);
});
