// Absorbed MLA (what deepcard runs, over the latent cache) equals the naive form of DeepSeek's
// reference (deepseek-reference.md 3.3): per-head keys and values expanded from the cached latent
// with W_UK / W_UV, computed here in plain f64 JavaScript from the same F32 GGUF, with the MoE
// feed-forward from the routing formulas. Checked on the V3-shaped (q compression, sigmoid
// routing), V2-Lite-shaped (no q compression, softmax routing) and V2-shaped (q compression,
// softmax group-limited routing by group max) fixtures, in the split and the legacy attn_kv_b layout
// (which the naive form reads directly, unsplit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureFixture } from '../dist/fixtures/fixtures.js';
import { GGMLType } from '../dist/formats/ggml-types.js';
import { readGGUF, readTensorData } from '../dist/formats/gguf.js';
import { dequantize } from '../dist/ops/dequant.js';
import { readDeepseek2Hparams } from '../dist/models/deepseek2.js';
import { ropeInvFreq, yarnAttentionScale } from '../dist/nn/rope.js';
import { routeToken } from '../dist/nn/moe-routing.js';
import { openModel, evaluateAll } from '../dist/engine/open.js';
import { fixtureDir, tokenSequence } from './helpers/fixtures.js';

function naiveForward(path, tokens, stats = { ruleMatters: 0 }) {
  const f = readGGUF(path);
  const hp = readDeepseek2Hparams(f);
  const W = (name) => {
    const info = f.tensorMap.get(name);
    if (!info) return null;
    const bytes = new Uint8Array(info.byteLength);
    readTensorData(info, bytes);
    return { d: Float64Array.from(dequantize(info.type, bytes, info.shape.reduce((a, b) => a * b, 1))), shape: info.shape };
  };
  const mv = (w, x, off = 0, rows = w.shape[w.shape.length - 2], K = x.length) => {
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += w.d[off + r * K + k] * x[k];
      y[r] = s;
    }
    return y;
  };
  const norm = (x, w) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const sc = 1 / Math.sqrt(ss / x.length + hp.eps);
    return x.map((v, i) => v * sc * (w ? w.d[i] : 1));
  };
  const silu = (z) => z / (1 + Math.exp(-z));
  const { invFreq, mscale } = ropeInvFreq(hp.ropeDim, hp.ropeBase, hp.ropeScaling);
  const rope = (v, p) => {
    const o = Float64Array.from(v);
    for (let i = 0; i < hp.ropeDim / 2; i++) {
      const a = p * invFreq[i];
      const c = Math.cos(a) * mscale;
      const s = Math.sin(a) * mscale;
      o[2 * i] = v[2 * i] * c - v[2 * i + 1] * s;
      o[2 * i + 1] = v[2 * i] * s + v[2 * i + 1] * c;
    }
    return o;
  };
  const { nHead: H, kvLoraRank: C, nopeDim: dn, ropeDim: dr, vDim: dv, nEmbd: d } = hp;
  const scale = yarnAttentionScale(hp.ropeScaling) / Math.sqrt(dn + dr);
  const emb = W('token_embd.weight');
  const out = W('output.weight') ?? emb;
  let xs = tokens.map((t) => emb.d.slice(t * d, (t + 1) * d));
  for (let l = 0; l < hp.nLayer; l++) {
    const p = `blk.${l}.`;
    const g = (n) => W(p + n);
    const [attnNorm, qA, qANorm, qB, q, kvA, kvANorm, kB, vB, kvB, wo, ffnNorm] = ['attn_norm.weight', 'attn_q_a.weight', 'attn_q_a_norm.weight', 'attn_q_b.weight', 'attn_q.weight', 'attn_kv_a_mqa.weight', 'attn_kv_a_norm.weight', 'attn_k_b.weight', 'attn_v_b.weight', 'attn_kv_b.weight', 'attn_output.weight', 'ffn_norm.weight'].map(g);
    // keys and values per position and head, expanded from the latent (the naive form)
    const K = [], Vv = [], Q = [];
    xs.forEach((x, t) => {
      const h = norm(x, attnNorm);
      const qq = qA ? mv(qB, norm(mv(qA, h), qANorm)) : mv(q, h);
      const kv = mv(kvA, h);
      const c = norm(kv.slice(0, C), kvANorm);
      const kpe = rope(kv.slice(C), t);
      const kh = [], vh = [], qh = [];
      for (let hh = 0; hh < H; hh++) {
        if (kvB) {
          // legacy layout: kv_b per head = [W_UK_h (dn rows); W_UV_h (dv rows)], rows of C
          kh.push([...mv(kvB, c, hh * (dn + dv) * C, dn, C), ...kpe]);
          vh.push(mv(kvB, c, (hh * (dn + dv) + dn) * C, dv, C));
        } else {
          const knope = new Float64Array(dn); // W_UK_h c, with k_b[h] = W_UK_h^T stored [C, dn]
          for (let i = 0; i < C; i++) for (let j = 0; j < dn; j++) knope[j] += kB.d[(hh * C + i) * dn + j] * c[i];
          kh.push([...knope, ...kpe]);
          vh.push(mv(vB, c, hh * dv * C, dv, C)); // W_UV_h c, v_b[h] stored [dv, C]
        }
        const qhead = qq.slice(hh * (dn + dr), (hh + 1) * (dn + dr));
        qh.push([...qhead.slice(0, dn), ...rope(qhead.slice(dn), t)]);
      }
      K.push(kh); Vv.push(vh); Q.push(qh);
    });
    xs = xs.map((x, t) => {
      const o = new Float64Array(H * dv);
      for (let hh = 0; hh < H; hh++) {
        const sc = [];
        for (let s = 0; s <= t; s++) sc.push(Q[t][hh].reduce((a, v, i) => a + v * K[s][hh][i], 0) * scale);
        const m = Math.max(...sc);
        const e = sc.map((v) => Math.exp(v - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let j = 0; j < dv; j++) o[hh * dv + j] += (e[s] / z) * Vv[s][hh][j];
      }
      const x1 = x.map((v, i) => v + mv(wo, o)[i]);
      const h2 = norm(x1, ffnNorm);
      let y;
      const gateInp = g('ffn_gate_inp.weight');
      if (!gateInp) {
        const [gw, uw, dw] = ['ffn_gate.weight', 'ffn_up.weight', 'ffn_down.weight'].map(g);
        const gg = mv(gw, h2), uu = mv(uw, h2);
        y = mv(dw, gg.map((v, i) => silu(v) * uu[i]));
      } else {
        const bias = g('exp_probs_b.bias');
        // DeepSeek's group rule: V2 (softmax, group_limited_greedy) ranks groups by their best
        // expert, V3 (sigmoid, noaux_tc) by the sum of the best two biased scores
        const cfg = {
          nExperts: hp.nExperts, topK: hp.nExpertsUsed, gating: hp.gating, nGroups: hp.nGroups, topKGroups: hp.nGroupsUsed,
          groupScore: hp.gating === 'softmax' ? 'max' : 'top2sum', normTopK: hp.normTopK, scale: hp.expertScale,
        };
        const logits = mv(gateInp, h2);
        const r = routeToken(logits, bias ? bias.d : null, cfg);
        const other = routeToken(logits, bias ? bias.d : null, { ...cfg, groupScore: cfg.groupScore === 'max' ? 'top2sum' : 'max' });
        if ([...r.ids].sort().join() !== [...other.ids].sort().join()) stats.ruleMatters++;
        const [ge, ue, de] = ['ffn_gate_exps.weight', 'ffn_up_exps.weight', 'ffn_down_exps.weight'].map(g);
        const F = hp.nFFExpert;
        y = new Float64Array(d);
        r.ids.forEach((e, j) => {
          const gg = mv(ge, h2, e * F * d, F, d), uu = mv(ue, h2, e * F * d, F, d);
          const ye = mv(de, gg.map((v, i) => silu(v) * uu[i]), e * d * F, d, F);
          for (let i = 0; i < d; i++) y[i] += r.weights[j] * ye[i];
        });
        const [gs, us, ds] = ['ffn_gate_shexp.weight', 'ffn_up_shexp.weight', 'ffn_down_shexp.weight'].map(g);
        if (gs) {
          const gg = mv(gs, h2), uu = mv(us, h2);
          const ys = mv(ds, gg.map((v, i) => silu(v) * uu[i]));
          for (let i = 0; i < d; i++) y[i] += ys[i];
        }
      }
      return x1.map((v, i) => v + y[i]);
    });
  }
  const fn = W('output_norm.weight');
  return xs.map((x) => mv(out, norm(x, fn)));
}

const NAIVE_CASES = [
  { variant: 'v3' }, { variant: 'v2-lite' }, { variant: 'v2' },
  { variant: 'v3', layout: 'legacy' }, { variant: 'v2', layout: 'legacy' },
];
for (const { variant, layout } of NAIVE_CASES) {
  test(`absorbed MLA equals the naive form (${variant} shape${layout ? `, ${layout} attn_kv_b` : ''}, F32)`, { timeout: 300_000 }, async () => {
    const path = ensureFixture(fixtureDir(), { family: 'deepseek2', size: 'tiny', type: GGMLType.F32, variant, layout });
    const tokens = tokenSequence(variant === 'v2' ? 24 : 6, 100000, 23);
    const stats = { ruleMatters: 0 };
    const naive = naiveForward(path, tokens, stats);
    // V2 group-limited routing (llama.cpp deviates here): the naive model uses DeepSeek-V2's group
    // max; make sure these tokens include choices where the top-2-sum rule would differ
    if (variant === 'v2') assert.ok(stats.ruleMatters > 0, 'no token where the group rule changes the experts');
    const m = await openModel(path, { threads: 2 });
    try {
      const V = m.model.info.nVocab;
      const ours = evaluateAll(m.model, tokens);
      let max = 0;
      let scaleMax = 0;
      naive.forEach((row, p) => {
        for (let i = 0; i < V; i++) {
          max = Math.max(max, Math.abs(ours[p * V + i] - row[i]));
          scaleMax = Math.max(scaleMax, Math.abs(row[i]));
        }
      });
      assert.ok(scaleMax > 1, 'logits are flat');
      assert.ok(max < 2e-3, `max |absorbed - naive| ${max}`);
    } finally {
      await m.dispose();
    }
  });
}
