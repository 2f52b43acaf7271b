/**
 * Server counters and their Prometheus text exposition (format 0.0.4). Names follow the
 * `<namespace>_<what>_<unit>` convention; counters end in `_total`.
 */

export interface UsageLike {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export interface TimingsLike {
  prompt_ms?: number;
  predicted_n?: number;
  predicted_ms?: number;
}

export class Metrics {
  /** `endpoint\u0000status` -> count. */
  private readonly requests = new Map<string, number>();
  promptTokens = 0;
  generatedTokens = 0;
  reasoningTokens = 0;
  cachedTokens = 0;
  promptCacheHits = 0;
  completedGenerations = 0;
  abortedGenerations = 0;
  /** Wall time spent generating (decode) and evaluating prompts, in seconds. */
  generationSeconds = 0;
  promptSeconds = 0;
  /** Decode speed of the most recent generation. */
  lastTokensPerSecond = 0;
  readonly startedAt = Date.now();

  countRequest(endpoint: string, status: number): void {
    const k = `${endpoint}\u0000${status}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }

  requestCount(endpoint: string, status: number): number {
    return this.requests.get(`${endpoint}\u0000${status}`) ?? 0;
  }

  recordGeneration(usage: UsageLike | null | undefined, timings: TimingsLike | null | undefined): void {
    this.completedGenerations++;
    if (usage) {
      this.promptTokens += usage.prompt_tokens ?? 0;
      this.generatedTokens += usage.completion_tokens ?? 0;
      this.reasoningTokens += usage.completion_tokens_details?.reasoning_tokens ?? 0;
      const cached = usage.prompt_tokens_details?.cached_tokens ?? 0;
      this.cachedTokens += cached;
      if (cached > 0) this.promptCacheHits++;
    }
    if (timings) {
      this.promptSeconds += (timings.prompt_ms ?? 0) / 1000;
      const ms = timings.predicted_ms ?? 0;
      this.generationSeconds += ms / 1000;
      if (ms > 0 && timings.predicted_n) this.lastTokensPerSecond = (timings.predicted_n * 1000) / ms;
    }
  }

  render(g: { queueDepth: number; slotsInUse: number; slots: number; queueLimit: number; loaded: boolean }): string {
    const out: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    const one = (name: string, type: 'counter' | 'gauge', help: string, v: number) => metric(name, type, help, [`${name} ${fmt(v)}`]);
    const reqLines = [...this.requests.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => {
        const [endpoint, status] = k.split('\u0000');
        return `deepcard_requests_total{endpoint="${label(endpoint!)}",status="${status}"} ${v}`;
      });
    metric('deepcard_requests_total', 'counter', 'HTTP requests by endpoint and status code.', reqLines);
    one('deepcard_prompt_tokens_total', 'counter', 'Prompt tokens of completed generations (including cached ones).', this.promptTokens);
    one('deepcard_generated_tokens_total', 'counter', 'Tokens generated (completion tokens, reasoning included).', this.generatedTokens);
    one('deepcard_reasoning_tokens_total', 'counter', 'Generated tokens that were reasoning.', this.reasoningTokens);
    one('deepcard_prompt_cached_tokens_total', 'counter', 'Prompt tokens reused from the prompt cache.', this.cachedTokens);
    one('deepcard_prompt_cache_hits_total', 'counter', 'Generations whose prompt reused cached state (cached_tokens > 0).', this.promptCacheHits);
    one('deepcard_generations_total', 'counter', 'Generations that ran to completion.', this.completedGenerations);
    one('deepcard_generations_aborted_total', 'counter', 'Generations stopped because the client went away or the server shut down.', this.abortedGenerations);
    one('deepcard_generation_seconds_total', 'counter', 'Seconds spent generating tokens (decode).', this.generationSeconds);
    one('deepcard_prompt_seconds_total', 'counter', 'Seconds spent evaluating prompts (prefill).', this.promptSeconds);
    one('deepcard_tokens_per_second', 'gauge', 'Average decode speed over all generations (generated tokens / generation seconds).', this.generationSeconds > 0 ? this.generatedTokens / this.generationSeconds : 0);
    one('deepcard_last_tokens_per_second', 'gauge', 'Decode speed of the most recent generation.', this.lastTokensPerSecond);
    one('deepcard_queue_depth', 'gauge', 'Requests waiting for a slot.', g.queueDepth);
    one('deepcard_queue_limit', 'gauge', 'Maximum requests allowed to wait; more get 503.', g.queueLimit);
    one('deepcard_slots_in_use', 'gauge', 'Generation slots in use.', g.slotsInUse);
    one('deepcard_slots_total', 'gauge', 'Generation slots (--parallel).', g.slots);
    one('deepcard_model_loaded', 'gauge', '1 once the model is loaded and serving.', g.loaded ? 1 : 0);
    one('deepcard_uptime_seconds', 'gauge', 'Seconds since the server started.', (Date.now() - this.startedAt) / 1000);
    return out.join('\n') + '\n';
  }
}

function fmt(v: number): string {
  return Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : '0';
}

function label(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
