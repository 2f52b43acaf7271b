/**
 * Thread pool of the wasm backend: the calling (leader) thread plus `threads - 1` helper workers.
 *
 * Why this shape (shared docs cpu-kernels.md sec. 4): a thread that does not compute must never sit
 * in the per-matmul path (28-500 us per dispatch on 2 cores), and a helper woken from a futex costs
 * ~33 us, while a spinning helper costs ~0.3 us. So the leader publishes a job in the control block
 * and computes chunks itself; helpers spin on the generation word and only park in Atomics.wait
 * after `spinMs` of idling (between tokens); the leader calls Atomics.notify only when some helper
 * declared itself parked. Chunks are claimed from a shared counter, so the leader never waits for
 * a helper that is not running (descheduled, parked): it only waits for chunks already claimed.
 * New arenas reach helpers through a MessagePort they drain synchronously (receiveMessageOnPort)
 * when a job first names the arena: a spinning worker never runs its event loop.
 */
import { Worker, MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { WasmMemory, WasmModule } from './wasm-api.js';
import { CTL, JobRunner, MAX_CHUNKS, MAX_HELPERS, Op, type KernelSet } from './jobs.js';

export interface PoolOptions {
  threads: number;
  module: WasmModule;
  /** Idle time after which a helper parks in Atomics.wait (ms). */
  spinMs: number;
}

export class ThreadPool {
  readonly threads: number;
  readonly runner: JobRunner;
  readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private disposed = false;

  constructor(opts: PoolOptions) {
    const helpers = opts.threads - 1;
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || helpers > MAX_HELPERS) {
      throw new Error(`wasm backend: threads must be an integer in 1..${MAX_HELPERS + 1}, got ${opts.threads}`);
    }
    this.threads = opts.threads;
    const sab = new SharedArrayBuffer(CTL.SIZE * 4);
    this.ctl = new Int32Array(sab);
    this.runner = new JobRunner(sab, 0);
    for (let i = 0; i < helpers; i++) {
      const { port1, port2 } = new MessageChannel();
      const w = new Worker(new URL('./worker.js', import.meta.url), {
        workerData: { ctl: sab, port: port2, module: opts.module, index: i, spinMs: opts.spinMs, gen: 0 },
        transferList: [port2],
      });
      w.unref();
      port1.unref();
      w.on('error', () => { /* reported through ctl ERR; keep the process alive */ });
      this.workers.push(w);
      this.ports.push(port1);
    }
  }

  get helpers(): number { return this.workers.length; }

  /** Register arena `index` (leader instance) and hand its memory to every helper. */
  addArena(index: number, memory: WasmMemory, ks: KernelSet, scratch: number): void {
    this.runner.addArena(index, ks);
    // helpers instantiate it when a job first names it (worker.ts drains the port synchronously)
    for (const p of this.ports) p.postMessage({ index, memory, scratch });
  }

  /**
   * Run job `op` over `nChunks` chunks (arguments already written to ctl ARGS). With one chunk, no
   * helpers or `parallel` false, the leader runs it inline; otherwise it publishes the job, computes
   * chunks itself and waits until every chunk is finished (helpers that arrive late find nothing
   * left to claim, so a helper that never started or is descheduled cannot stall the job).
   */
  exec(op: Op, nChunks: number, parallel = true): void {
    const c = this.ctl;
    if (this.disposed) throw new Error('wasm backend used after dispose()');
    if (!(nChunks >= 0 && nChunks <= MAX_CHUNKS)) throw new Error(`wasm job with ${nChunks} chunks (max ${MAX_CHUNKS})`);
    if (this.workers.length === 0 || nChunks <= 1 || !parallel) {
      for (let k = 0; k < nChunks; k++) this.runner.chunk(op, k);
      return;
    }
    c[CTL.OP] = op;
    Atomics.store(c, CTL.DONE, 0);
    Atomics.store(c, CTL.WORK, nChunks << 16);
    Atomics.add(c, CTL.GEN, 1);
    for (let i = 0; i < this.workers.length; i++) {
      if (Atomics.load(c, CTL.PARK + i) !== 0) { Atomics.notify(c, CTL.GEN); break; }
    }
    const err = this.runner.work();
    // a helper catches its own errors and still counts its chunk; only a killed thread could hang this
    while (Atomics.load(c, CTL.DONE) < nChunks) { /* spin */ }
    // collect helper errors of this job even when the leader's own chunk failed too, so that no
    // stale error is reported by a later job
    let helperErr: string | null = null;
    if (Atomics.load(c, CTL.ERR) !== 0) {
      Atomics.store(c, CTL.ERR, 0);
      const msgs: string[] = [];
      for (const p of this.ports) {
        for (let m = receiveMessageOnPort(p); m; m = receiveMessageOnPort(p)) {
          const d = m.message as { error?: string };
          if (d?.error) msgs.push(d.error);
        }
      }
      helperErr = `wasm helper thread failed: ${msgs.join('; ') || 'unknown error'}`;
    }
    if (err) throw err;
    if (helperErr) throw new Error(helperErr);
  }

  /** Helpers currently parked (or about to park) in Atomics.wait, and chunks run per thread. */
  stats(): { parked: number; chunks: number[] } {
    let parked = 0;
    for (let i = 0; i < this.workers.length; i++) parked += Atomics.load(this.ctl, CTL.PARK + i) ? 1 : 0;
    const chunks: number[] = [];
    for (let t = 0; t < this.threads; t++) chunks.push(Atomics.load(this.ctl, CTL.STAT + t));
    return { parked, chunks };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.workers.length) {
      const c = this.ctl;
      c[CTL.OP] = Op.STOP;
      Atomics.add(c, CTL.GEN, 1);
      Atomics.notify(c, CTL.GEN);
      await Promise.all(this.workers.map((w) => w.terminate()));
      for (const p of this.ports) p.close();
    }
  }
}
