/**
 * OpenAI-shaped request and response types of the in-process engine API (and of the HTTP
 * server, which forwards them unchanged). DeepSeek extensions: `reasoning_content` on messages
 * and deltas, `completion_tokens_details.reasoning_tokens`, `thinking` / `chat_template_kwargs`.
 */
import type { ChatMessage, ToolSpec } from '../chat/template.js';

export type { ChatMessage, ToolSpec };

export interface SamplingFields {
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  min_p?: number | null;
  repetition_penalty?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  seed?: number | null;
  stop?: string | string[] | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
}

export interface ChatCompletionRequest extends SamplingFields {
  model?: string;
  messages: ChatMessage[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  tools?: ToolSpec[] | null;
  tool_choice?: 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } } | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  /** Template variables, e.g. { thinking: true } (V3.1) or { enable_thinking: false }. */
  chat_template_kwargs?: Record<string, unknown> | null;
  /** DeepSeek V4 API style switch; mapped to the template's thinking variable. */
  thinking?: { type: 'enabled' | 'disabled' } | boolean | null;
  /** Close the thought after this many reasoning tokens (deepcard extension, like llama.cpp's --reasoning-budget). */
  reasoning_budget?: number | null;
  n?: number | null;
  signal?: AbortSignal;
}

export interface CompletionRequest extends SamplingFields {
  model?: string;
  prompt: string | number[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  logprobs?: number | null;
  echo?: boolean | null;
  n?: number | null;
  signal?: AbortSignal;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

/** Speed of one request (extension, like llama-server's `timings`). */
export interface Timings {
  prompt_n: number;
  prompt_ms: number;
  prompt_per_second: number;
  predicted_n: number;
  predicted_ms: number;
  predicted_per_second: number;
}

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface TokenLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    message: { role: 'assistant'; content: string | null; reasoning_content: string | null; tool_calls?: ToolCall[] };
    logprobs: { content: TokenLogprob[] } | null;
    finish_reason: FinishReason;
  }>;
  usage: Usage;
  timings?: Timings;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      reasoning_content?: string | null;
      tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function: { name?: string; arguments?: string } }>;
    };
    logprobs: { content: TokenLogprob[] } | null;
    finish_reason: FinishReason | null;
  }>;
  usage?: Usage | null;
  timings?: Timings;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{
    index: number;
    text: string;
    logprobs: { tokens: string[]; token_logprobs: number[]; top_logprobs: Array<Record<string, number>>; text_offset: number[] } | null;
    finish_reason: FinishReason;
  }>;
  usage: Usage;
  timings?: Timings;
}

export interface CompletionChunk {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: Array<{ index: number; text: string; logprobs: Completion['choices'][0]['logprobs']; finish_reason: FinishReason | null }>;
  usage?: Usage | null;
  timings?: Timings;
}

/** An invalid request (maps to HTTP 400 in the server). */
export class InvalidRequestError extends Error {
  constructor(message: string, readonly param?: string, readonly code = 'invalid_request_error') {
    super(message);
  }
}
