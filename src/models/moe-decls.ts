/**
 * GGUF tensors of one DeepSeekMoE layer (llama.cpp names; deepseek-reference.md 5.6), shared by
 * the `deepseek` and `deepseek2` families.
 */
import type { TensorDecl } from './types.js';

/**
 * Router, stacked routed experts ([E, F, d] gate/up, [E, d, F] down) and, when Fs > 0, the fused
 * shared experts. `bias`: declare the optional V3 selection bias `exp_probs_b.bias`.
 */
export function moeTensorDecls(prefix: string, d: number, E: number, F: number, Fs: number, bias: boolean): TensorDecl[] {
  const p = prefix;
  const decls: TensorDecl[] = [
    { name: `${p}ffn_gate_inp.weight`, shape: [E, d] },
    ...(bias ? [{ name: `${p}exp_probs_b.bias`, shape: [E], keepF32: true, optional: true }] : []),
    { name: `${p}ffn_gate_exps.weight`, shape: [E, F, d] },
    { name: `${p}ffn_up_exps.weight`, shape: [E, F, d] },
    { name: `${p}ffn_down_exps.weight`, shape: [E, d, F] },
  ];
  if (Fs > 0) {
    decls.push(
      { name: `${p}ffn_gate_shexp.weight`, shape: [Fs, d] },
      { name: `${p}ffn_up_shexp.weight`, shape: [Fs, d] },
      { name: `${p}ffn_down_shexp.weight`, shape: [d, Fs] },
    );
  }
  return decls;
}
