import { openModel, evaluateAll, topLogprobs } from '/work/main/dist/engine/open.js';
import { llamaTopLogprobs, disposeReferenceModels } from '/work/main/test/helpers/llama-ref.js';
const [path, backend='reference', threads='1'] = process.argv.slice(2);
const toks = [100, 2000, 3000, 42, 7, 999, 12345, 5];
const m = await openModel(path, { backend, threads: Number(threads) });
const t0 = performance.now();
const lg = evaluateAll(m.model, toks);
console.log('eval', ((performance.now()-t0)/1000).toFixed(2));
const V = m.model.info.nVocab;
const ref = await llamaTopLogprobs(path, toks, { exact: true, top: 5 });
let maxd = 0;
for (let p = 0; p < toks.length; p++) {
  const row = lg.subarray(p*V, (p+1)*V);
  const ours = topLogprobs(row, 5);
  const lse = ours[0][1]; // logprob of top
  // compute our logprob for ref ids
  let mx=-Infinity; for (const v of row) if (v>mx) mx=v; let s=0; for (const v of row) s+=Math.exp(v-mx); const l=mx+Math.log(s);
  for (const [id, lp] of ref[p]) maxd = Math.max(maxd, Math.abs(row[id]-l-lp));
  if (p < 3) console.log(JSON.stringify(ours.map(([i,v])=>[i,+v.toFixed(4)])), JSON.stringify(ref[p].map(([i,v])=>[i,+v.toFixed(4)])));
}
console.log('max diff', maxd);
await m.dispose(); await disposeReferenceModels();
