/**
 * DeepSeekMoE feed-forward: shared experts (one fused SwiGLU) plus routed experts chosen per token
 * (moe-routing.ts). Only the selected experts' weights are read: tokens are grouped by expert,
 * gathered, pushed through that expert's slice of the stacked [E, F, d] tensors, and scattered
 * back with their routing weights.
 *
 * Legend: T = tokens, d = model width, E = routed experts, F = expert width, k = experts per token.
 */
import type { Backend, Tensor } from '../ops/types.js';
import { routeToken, validateRouter, type RouterConfig } from './moe-routing.js';

export interface MoeWeights {
  /** [E, d] router (ffn_gate_inp). */
  readonly router: Tensor;
  /** [E] selection bias (exp_probs_b) or null. */
  readonly bias: Float32Array | null;
  /** Stacked experts: gate/up [E, F, d], down [E, d, F]. */
  readonly gateExps: Tensor;
  readonly upExps: Tensor;
  readonly downExps: Tensor;
  /** Shared experts fused: gate/up [Fs, d], down [d, Fs]; null when there are none. */
  readonly gateShared: Tensor | null;
  readonly upShared: Tensor | null;
  readonly downShared: Tensor | null;
}

export class MoeFfn {
  private readonly ws: Record<'logits' | 'xe' | 'ge' | 'ue' | 'ye' | 'gs' | 'us' | 'ys', Tensor>;

  constructor(
    private readonly b: Backend,
    private readonly router: RouterConfig,
    readonly nEmbd: number,
    readonly nFF: number,
    readonly nFFShared: number,
    maxBatch: number,
  ) {
    validateRouter(router);
    const B = maxBatch;
    const d = nEmbd;
    this.ws = {
      logits: b.allocF32([B, router.nExperts], 'moe.logits'),
      xe: b.allocF32([B, d], 'moe.xe'),
      ge: b.allocF32([B, nFF], 'moe.ge'),
      ue: b.allocF32([B, nFF], 'moe.ue'),
      ye: b.allocF32([B, d], 'moe.ye'),
      gs: b.allocF32([B, Math.max(1, nFFShared)], 'moe.gs'),
      us: b.allocF32([B, Math.max(1, nFFShared)], 'moe.us'),
      ys: b.allocF32([B, d], 'moe.ys'),
    };
  }

  /** out [T, d] = MoE(h [T, d]) (overwritten). */
  forward(out: Tensor, h: Tensor, w: MoeWeights): void {
    const b = this.b;
    const T = h.shape[0]!;
    const { nExperts: E } = this.router;
    const d = this.nEmbd;
    const F = this.nFF;
    // Router in f32 (DeepSeek computes it in fp32): logits [T, E]
    const logits = b.view(this.ws.logits, 0, [T, E]);
    b.matmul(logits, h, w.router);
    const L = b.read(logits);
    // Summation order as DeepSeek's reference and llama.cpp: the routed experts' weighted outputs
    // are summed from zero (in expert order here; llama.cpp sums in rank order, the same for k = 2
    // and within rounding otherwise), then the shared experts' output is added. The order matters
    // only at the last bit, but a last-bit difference can flip an 8-bit rounding downstream.
    b.scale(out, out, 0);
    // Group tokens by expert.
    const rows: number[][] = Array.from({ length: E }, () => []);
    const wts: number[][] = Array.from({ length: E }, () => []);
    for (let t = 0; t < T; t++) {
      const r = routeToken(L.subarray(t * E, (t + 1) * E), w.bias, this.router);
      for (let j = 0; j < r.ids.length; j++) {
        rows[r.ids[j]!]!.push(t);
        wts[r.ids[j]!]!.push(r.weights[j]!);
      }
    }
    for (let e = 0; e < E; e++) {
      const n = rows[e]!.length;
      if (n === 0) continue;
      const idx = Int32Array.from(rows[e]!);
      const xe = b.view(this.ws.xe, 0, [n, d]);
      const ge = b.view(this.ws.ge, 0, [n, F]);
      const ue = b.view(this.ws.ue, 0, [n, F]);
      const ye = b.view(this.ws.ye, 0, [n, d]);
      b.gatherRows(xe, h, idx);
      b.matmulMany(xe, [
        { w: b.view(w.gateExps, e * F * d, [F, d]), out: ge },
        { w: b.view(w.upExps, e * F * d, [F, d]), out: ue },
      ]);
      b.swiglu(ge, ge, ue);
      b.matmul(ye, ge, b.view(w.downExps, e * d * F, [d, F]));
      b.scatterAddRows(out, ye, idx, Float32Array.from(wts[e]!));
    }
    // Shared experts: out += down(silu(gate h) * up h)
    if (w.gateShared && w.upShared && w.downShared) {
      const Fs = this.nFFShared;
      const gs = b.view(this.ws.gs, 0, [T, Fs]);
      const us = b.view(this.ws.us, 0, [T, Fs]);
      const ys = b.view(this.ws.ys, 0, [T, d]);
      b.matmulMany(h, [{ w: w.gateShared, out: gs }, { w: w.upShared, out: us }]);
      b.swiglu(gs, gs, us);
      b.matmul(ys, gs, w.downShared);
      b.add(out, out, ys);
    }
  }

  dispose(): void {
    for (const t of Object.values(this.ws)) this.b.free(t);
  }
}
