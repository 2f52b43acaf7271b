#!/usr/bin/env node
// Compiles the AssemblyScript kernels into two modules:
//   build/wasm/kernels.wasm          from src/backends/wasm/as/index.ts: SIMD128 only (runs everywhere)
//   build/wasm/kernels-relaxed.wasm  from src/backends/wasm/as/index_relaxed.ts with --enable
//                                    relaxed-simd: the same kernels plus the relaxed-SIMD ones over
//                                    repacked Q4_0 weights (matmul_x4.ts)
// The backend loads the relaxed module when the engine accepts it and falls back to the plain one
// (backend.ts, docs/ARCHITECTURE.md). i32x4.relaxed_dot_i8x16_i7x16_add_s is never used: slow and
// wrong before tier-up on Node 20 (shared/docs/cpu-kernels-prefill.md).
//
// Flags: SIMD128 + threads (shared memory imported as env.memory so every worker instance works on
// the same heap), stub runtime (kernels never allocate), -O3 with assertions removed.
// Exits non-zero with the compiler's own message when compilation fails.
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const asc = join(root, 'node_modules/assemblyscript/bin/asc.js');

if (!existsSync(asc)) {
  console.error(`build-wasm: AssemblyScript compiler not found at ${asc} (run npm install)`);
  process.exit(1);
}

const modules = [
  { entry: 'src/backends/wasm/as/index.ts', out: 'build/wasm/kernels.wasm', extra: [] },
  { entry: 'src/backends/wasm/as/index_relaxed.ts', out: 'build/wasm/kernels-relaxed.wasm', extra: ['--enable', 'relaxed-simd'] },
];

for (const m of modules) {
  const entry = join(root, m.entry), outFile = join(root, m.out);
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
    ...m.extra,
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
}
