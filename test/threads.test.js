// Thread pool and memory arenas of the wasm backend:
// - matmul results are bit-identical for 1, 2 and 3 threads (per-row results do not depend on
//   how rows are split into chunks), with both kernel modules (relaxed SIMD with repacked Q4_0
//   weights, plain SIMD128);
// - a model sharded over several small arenas (arenaBytes = 1 MiB) gives bit-identical results
//   to one arena, including token tiling when a far arena's scratch is too small for the input;
// - dispose() (and even no dispose: workers are unref'd) lets the process exit;
// - 10k quick jobs back to back complete (no lost wake-up / deadlock); the dispatch cost is logged;
// - a helper parked in Atomics.wait is woken by the next job and takes chunks.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { WasmBackend } from '../dist/backends/wasm/backend.js';
import { GGMLType, typeName } from '../dist/formats/ggml-types.js';
import { mulberry32, randomBlocks } from '../dist/ops/quantize.js';

const backends = [];
async function make(opts) {
  const be = await WasmBackend.create(opts);
  backends.push(be);
  return be;
}
after(async () => { for (const be of backends) await be.dispose(); });

function randF32(rand, n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}
function sameBits(a, b, what) {
  assert.equal(a.length, b.length, `${what}: length`);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length), y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) {
    if (x[i] !== y[i]) assert.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}
function matmulOn(be, type, N, K, T, wb, x) {
  const w = be.createWeight('w', type, [N, K], (d) => d.set(wb));
  const X = be.allocF32([T, K], 'x');
  be.write(X, x);
  const Y = be.allocF32([T, N], 'y');
  be.matmul(Y, X, w);
  const r = be.read(Y);
  be.free(w); be.free(X); be.free(Y);
  return r;
}

for (const simd of ['relaxed', 'plain']) {
  test(`matmul: 1 thread == 2 threads == 3 threads, bit for bit (${simd} module)`, async () => {
    const bes = [await make({ threads: 1, simd }), await make({ threads: 2, spinMs: 1, simd }), await make({ threads: 3, spinMs: 1, simd })];
    for (const be of bes) assert.equal(be.simd, simd);
    const rand = mulberry32(7);
    const types = [GGMLType.F32, GGMLType.F16, GGMLType.BF16, GGMLType.Q4_0, GGMLType.Q5_1, GGMLType.Q8_0,
      GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.IQ4_NL, GGMLType.IQ4_XS];
    for (const type of types) {
      // Q4_0 also: 4-row groups with a tail, small batches and several prefill tiles
      const shapes = type === GGMLType.Q4_0 ? [[1001, 512, 1], [515, 1024, 5], [1003, 256, 8], [259, 1536, 70]] : [[1001, 512, 1], [515, 1024, 5]];
      for (const [N, K, T] of shapes) {
        const wb = randomBlocks(type, N * K, rand), x = randF32(rand, T * K);
        const r1 = matmulOn(bes[0], type, N, K, T, wb, x);
        for (let i = 1; i < bes.length; i++) {
          sameBits(matmulOn(bes[i], type, N, K, T, wb, x), r1, `${typeName(type)} [${N}, ${K}] T=${T} threads ${i + 1}`);
        }
      }
    }
    // the split really happened: helpers ran chunks
    for (const be of bes.slice(1)) assert.ok(be.poolStats().chunks.reduce((a, b) => a + b, 0) > 0);
  });
}

test('weights sharded over 1 MiB arenas give the same results as one arena', async () => {
  const K = 512, T = 3, V = 64;
  const rand = mulberry32(11);
  // a tiny "model": embeddings, a norm, 10 projection matrices of ~160 KB each (> 1.6 MB in all)
  const emb = randomBlocks(GGMLType.Q8_0, V * K, rand);
  const norm = randF32(rand, K);
  const mats = Array.from({ length: 10 }, (_, i) => {
    // one Q4_0 weight (repacked by the relaxed module) with an odd row count
    const type = i === 5 ? GGMLType.Q4_0 : [GGMLType.Q8_0, GGMLType.Q4_K, GGMLType.Q6_K, GGMLType.F16][i % 4];
    const N = type === GGMLType.F16 ? 160 : type === GGMLType.Q4_0 ? 301 : 300;
    return { type, N, bytes: randomBlocks(type, N * K, rand), bias: randF32(rand, N) };
  });
  const ids = Int32Array.from([5, 63, 0]);
  const BT = 150;
  const bigX = randF32(rand, BT * K);

  async function forward(opts, pick) {
    const be = await make(opts);
    const E = be.createWeight('token_embd', GGMLType.Q8_0, [V, K], (d) => d.set(emb));
    const Nw = be.createWeight('norm', GGMLType.F32, [K], (d) => d.set(new Uint8Array(norm.buffer)));
    const W = mats.map((m, i) => be.createWeight(`blk.${i}.w`, m.type, [m.N, K], (d) => d.set(m.bytes)));
    const B = mats.map((m, i) => be.createWeight(`blk.${i}.b`, GGMLType.F32, [m.N], (d) => d.set(new Uint8Array(m.bias.buffer))));
    const x = be.allocF32([T, K], 'x');
    be.getRows(x, E, ids);
    be.rmsNorm(x, x, Nw, 1e-6);
    const outs = mats.map((m) => be.allocF32([T, m.N], 'y'));
    be.matmulMany(x, W.map((w, i) => ({ w, out: outs[i], bias: B[i] })));
    // many tokens against the first weight of arena 1, which later weights filled up: its free
    // space cannot hold all BT rows of converted input and output at once, so tokens are tiled
    const wi = pick ?? W.findIndex((w) => w.arena === 1);
    assert.ok(wi >= 0, 'no weight in arena 1');
    const X2 = be.allocF32([BT, K], 'x2');
    be.write(X2, bigX);
    const Y2 = be.allocF32([BT, mats[wi].N], 'y2');
    be.matmul(Y2, X2, W[wi]);
    const res = { wi, tiled: be.poolStats().tiledMatmuls, x: be.read(x), outs: outs.map((o) => be.read(o)), y2: be.read(Y2), arenas: be.arenaCount };
    await be.dispose();
    return res;
  }
  const small = { arenaBytes: 1 << 20, activationReserveBytes: 768 << 10 };
  const sharded = await forward({ threads: 2, spinMs: 1, ...small });
  const sharded1 = await forward({ threads: 1, ...small }, sharded.wi);
  const one = await forward({ threads: 2, spinMs: 1 }, sharded.wi);
  assert.equal(one.arenas, 1);
  assert.ok(sharded.arenas >= 3, `expected several arenas, got ${sharded.arenas}`);
  assert.ok(sharded.tiled > 0 && sharded1.tiled > 0 && one.tiled === 0, 'the far-arena matmul was not token-tiled');
  for (const r of [sharded, sharded1]) {
    sameBits(r.x, one.x, 'getRows + rmsNorm');
    r.outs.forEach((o, i) => sameBits(o, one.outs[i], `matmulMany job ${i} (${typeName(mats[i].type)})`));
    sameBits(r.y2, one.y2, 'token-tiled far-arena matmul');
  }
});

test('a weight larger than an arena gives a clear error', async () => {
  const be = await make({ threads: 1, arenaBytes: 1 << 20 });
  assert.throws(() => be.createWeight('huge', GGMLType.F32, [512, 1024], () => {}), /huge.*do not fit in one wasm memory arena/);
});

test('dispose() lets the process exit, and so do unref\'d helpers without dispose', () => {
  const url = new URL('../dist/backends/wasm/backend.js', import.meta.url).href;
  for (const dispose of [true, false]) {
    const code = `
      import { WasmBackend } from ${JSON.stringify(url)};
      const be = await WasmBackend.create({ threads: 3 });
      const x = be.allocF32([1, 64]); const y = be.allocF32([1, 64]);
      be.scale(y, x, 2); be.emptyJob();
      ${dispose ? 'await be.dispose();' : ''}
      console.log('done');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20000 });
    assert.equal(r.error, undefined, `child did not exit (dispose=${dispose}): ${r.error?.message}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /done/);
  }
});

test('10k quick jobs back to back complete (dispatch cost logged)', async (t) => {
  for (const threads of [2, 3]) {
    const be = await make({ threads });
    be.warmup();
    const R = 10000;
    const t0 = performance.now();
    for (let i = 0; i < R; i++) be.emptyJob(threads);
    const us = ((performance.now() - t0) * 1000) / R;
    t.diagnostic(`threads ${threads}: ${us.toFixed(2)} us per empty ${threads}-chunk job`);
    // real multi-chunk work interleaved with inline decode-sized ops
    const K = 256, N = 2048;
    const w = be.createWeight('w', GGMLType.Q8_0, [N, K], (d) => d.set(randomBlocks(GGMLType.Q8_0, N * K, mulberry32(3))));
    const x = be.allocF32([1, K]), y = be.allocF32([1, N]);
    be.write(x, randF32(mulberry32(4), K));
    be.matmul(y, x, w);
    const want = be.read(y);
    for (let i = 0; i < 2000; i++) {
      be.matmul(y, x, w);
      be.scale(x, x, 1);
    }
    sameBits(be.read(y), want, 'repeated matmul');
    await be.dispose();
  }
});

test('a helper parked in Atomics.wait is woken and takes chunks', async () => {
  const be = await make({ threads: 2, spinMs: 1 });
  const K = 4096, N = 640;
  const rand = mulberry32(5);
  const w = be.createWeight('w', GGMLType.F32, [N, K], (d) => d.set(new Uint8Array(randF32(rand, N * K).buffer)));
  const x = be.allocF32([1, K]), y = be.allocF32([1, N]);
  be.write(x, randF32(rand, K));
  be.matmul(y, x, w);
  const want = be.read(y);
  let woke = false;
  for (let attempt = 0; attempt < 10 && !woke; attempt++) {
    // wait until the helper has parked (it parks after spinMs without work)
    for (let i = 0; i < 200 && be.poolStats().parked === 0; i++) await sleep(5);
    assert.equal(be.poolStats().parked, 1, 'helper did not park');
    const before = be.poolStats().chunks[1];
    be.matmul(y, x, w);
    sameBits(be.read(y), want, 'matmul after park');
    woke = be.poolStats().chunks[1] > before;
  }
  assert.ok(woke, 'the parked helper never took a chunk');
});

test('a kernel trap in any thread surfaces as an Error and the pool keeps working', async () => {
  const be = await make({ threads: 2, spinMs: 50 });
  // internal job API: an 8-chunk matmul whose pointers lie far outside the memory
  const pool = be.pool, c = pool.ctl, A = 192;
  c[A] = 1;
  c.set([0, GGMLType.F32, 0x7ff00000, 0x7ff00000, 0x7ff00000, 64, 64, 1, 8, 0], A + 1);
  for (let i = 0; i < 20; i++) assert.throws(() => pool.exec(4, 8), /out of bounds/);
  const x = be.allocF32([70000]);
  be.write(x, new Float32Array(70000).fill(1.5));
  be.scale(x, x, 2); // a threaded elementwise job after the failures
  assert.ok(be.read(x).every((v) => v === 3));
});

test('activations that need the room move weights out of arena 0; results unchanged', async () => {
  const be = await make({ threads: 2, spinMs: 1, arenaBytes: 1 << 20, activationReserveBytes: 64 << 10 });
  const K = 512, N = 180, T = 2;
  const rand = mulberry32(21);
  // 8 Q8_0 weights of ~98 KB fill arena 0 up to its weight ceiling
  const W = Array.from({ length: 8 }, (_, i) =>
    be.createWeight(`w${i}`, GGMLType.Q8_0, [N, K], (d) => d.set(randomBlocks(GGMLType.Q8_0, N * K, rand))));
  const views = W.map((w) => be.view(w, 16 * K, [32, K]));
  const x = be.allocF32([T, K], 'x');
  be.write(x, randF32(rand, T * K));
  const run = () => W.flatMap((w, i) => {
    const y = be.allocF32([T, N]), yv = be.allocF32([T, 32]);
    be.matmul(y, x, w);
    be.matmul(yv, x, views[i]);
    const r = [be.read(y), be.read(yv)];
    be.free(y); be.free(yv);
    return r;
  });
  const before = run();
  assert.equal(be.arenaCount, 1);
  assert.ok(W.every((w) => w.arena === 0));
  const big = be.allocF32([150000], 'kv cache'); // 600 KB: only fits once weights moved out
  assert.ok(be.arenaCount > 1, 'no weight arena was opened');
  assert.ok(W.some((w) => w.arena !== 0), 'no weight moved');
  const after = run();
  before.forEach((r, i) => sameBits(after[i], r, `product ${i} after weights moved`));
  be.free(big);
});

test('a helper whose first job is a threaded activation quantization instantiates arena 0 itself', async () => {
  // regression: a helper that missed the warm-up chunks and then claimed a QUANT chunk read an
  // uninstantiated arena ("Cannot read properties of undefined (reading 'get')")
  const rand = mulberry32(11);
  const N = 16, K = 4096, T = 512;
  const wb = randomBlocks(GGMLType.Q8_0, N * K, rand), x = randF32(rand, T * K);
  const ref = await make({ threads: 1 });
  const r1 = matmulOn(ref, GGMLType.Q8_0, N, K, T, wb, x);
  for (let i = 0; i < 3; i++) {
    const be = await make({ threads: 3, spinMs: 50 });
    await sleep(150); // helpers started and spinning, no job seen yet
    sameBits(matmulOn(be, GGMLType.Q8_0, N, K, T, wb, x), r1, `fresh backend ${i}`);
    await be.dispose();
    backends.splice(backends.indexOf(be), 1);
  }
});

// Large weights and activations have their fresh pages faulted in (and zeroed) by all threads
// (backend.ts touch): a weight holds exactly the bytes fill() wrote, and allocF32 returns zeros
// even over memory that held data before.
test('2-thread page touching: weights keep their bytes, large allocF32 is zeroed', async () => {
  const be = await make({ threads: 2 });
  const rand = mulberry32(77);
  const bytes = randomBlocks(GGMLType.F32, 1536 * 1024, rand); // 6 MiB
  const w = be.createWeight('w', GGMLType.F32, [1024, 1536], (d) => d.set(bytes));
  sameBits(be.read(w), new Float32Array(bytes.buffer, bytes.byteOffset, 1536 * 1024), 'weight after touch');
  const dirty = be.allocF32([2, 1 << 20], 'dirty'); // 8 MiB
  be.write(dirty, new Float32Array(2 << 20).fill(3.5));
  be.free(dirty);
  const z = be.allocF32([2, 1 << 20], 'zeroed');
  const r = be.read(z);
  for (let i = 0; i < r.length; i++) if (r[i] !== 0) assert.fail(`allocF32: element ${i} is ${r[i]}, not 0`);
  be.free(z);
  be.free(w);
});
