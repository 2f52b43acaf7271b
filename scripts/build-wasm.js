#!/usr/bin/env node
// Compiles the AssemblyScript kernels (src/backends/wasm/as/index.ts) to build/wasm/kernels.wasm.
//
// Flags: SIMD128 + threads (shared memory imported as env.memory so every worker instance works on
// the same heap), stub runtime (kernels never allocate), -O3 with assertions removed. Relaxed SIMD
// is deliberately not enabled: see shared/docs/cpu-kernels-prefill.md (slow/wrong before tier-up).
// Exits non-zero with the compiler's own message when compilation fails.
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'src/backends/wasm/as/index.ts');
const outFile = join(root, 'build/wasm/kernels.wasm');
const asc = join(root, 'node_modules/assemblyscript/bin/asc.js');

if (!existsSync(asc)) {
  console.error(`build-wasm: AssemblyScript compiler not found at ${asc} (run npm install)`);
  process.exit(1);
}
if (!existsSync(entry)) {
  console.error(`build-wasm: entry file ${entry} is missing`);
  process.exit(1);
}
mkdirSync(dirname(outFile), { recursive: true });

const args = [
  asc, entry,
  '--outFile', outFile,
  '--enable', 'simd',
  '--enable', 'threads',
  '--importMemory',
  '--sharedMemory',
  '--initialMemory', '1',
  '--maximumMemory', '65536',
  '--runtime', 'stub',
  '-O3',
  '--noAssert',
];
const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
if (r.stdout) process.stdout.write(r.stdout);
if (r.stderr) process.stderr.write(r.stderr);
if (r.error) {
  console.error(`build-wasm: could not run asc: ${r.error.message}`);
  process.exit(1);
}
if (r.status !== 0) {
  console.error(`build-wasm: asc failed (exit ${r.status}) compiling ${entry}`);
  process.exit(r.status || 1);
}
console.log(`build-wasm: wrote ${outFile}`);
