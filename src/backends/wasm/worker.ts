/**
 * Helper thread of the wasm backend (see pool.ts for the protocol). It spins on the generation word
 * of the control block, runs chunks of each published job with its own kernel instances (one per
 * arena, all on the shared memories), and parks in Atomics.wait after `spinMs` without work.
 */
import { workerData, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { CTL, JobRunner, Op, kernelSet } from './jobs.js';
import { WA, type WasmMemory, type WasmModule } from './wasm-api.js';
import { kernelImports, setScratch } from './arena.js';

interface WorkerInit {
  ctl: SharedArrayBuffer;
  port: MessagePort;
  module: WasmModule;
  index: number;
  spinMs: number;
  /** Generation when the pool was built: a job published before this thread started is not missed. */
  gen: number;
}

const init = workerData as WorkerInit;
const runner = new JobRunner(init.ctl, init.index + 1);
const c = runner.i32;
const park = CTL.PARK + init.index;

/** Instantiate arenas announced by the leader up to `index` (posted before the job that names it). */
runner.onMissingArena = (index: number) => {
  while (!runner.arenas[index]) {
    const m = receiveMessageOnPort(init.port);
    if (!m) continue; // posted before the job was published; spin until it is visible
    const { index: i, memory, scratch } = m.message as { index: number; memory: WasmMemory; scratch: number };
    const inst = new WA.Instance(init.module, kernelImports(init.module, memory));
    setScratch(inst.exports, init.index + 1, scratch);
    runner.addArena(i, kernelSet(inst.exports));
  }
};

runner.onError = (e: unknown) => {
  init.port.postMessage({ error: `helper ${init.index + 1}: ${(e as Error)?.stack ?? String(e)}` });
  Atomics.store(c, CTL.ERR, 1);
};

function loop(): void {
  let seen = init.gen;
  const spinMs = init.spinMs;
  for (;;) {
    let g = Atomics.load(c, CTL.GEN);
    if (g === seen) {
      let t0 = performance.now();
      let spins = 0;
      while ((g = Atomics.load(c, CTL.GEN)) === seen) {
        if ((++spins & 1023) !== 0) continue;
        if (performance.now() - t0 < spinMs) continue;
        // Declare the park before re-checking: the leader notifies iff it sees PARK set after
        // bumping GEN, and Atomics.wait returns at once if GEN already moved (no lost wake-up).
        Atomics.store(c, park, 1);
        Atomics.wait(c, CTL.GEN, seen);
        Atomics.store(c, park, 0);
        t0 = performance.now();
      }
    }
    seen = g;
    if (Atomics.load(c, CTL.OP) === Op.STOP) return;
    runner.work();
  }
}

loop();
init.port.close();
