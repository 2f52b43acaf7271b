// Built-in Jinja chat templates for DeepSeek families, written from deepseek-reference.md sections 10.1-10.5.
// They mirror the logic of the real tokenizer_config.json `chat_template`s; deliberate differences are noted
// next to each template. Every statement tag trims whitespace on both sides ({%- -%}) so the only output is
// what the {{ }} expressions print.

/** Names accepted by builtinTemplate(). */
export type BuiltinTemplateName =
  | 'deepseek-v3'
  | 'deepseek-r1'
  | 'deepseek-r1-distill'
  | 'deepseek-v3.1'
  | 'deepseek-v2'
  | 'deepseek-llm'
  | 'deepseek-coder';

// Backticks cannot appear inside String.raw literals without a backslash, so the ``` fence is spliced in.
const FENCE = '```';
const raw = (s: string): string => s.replace(/FENCE/g, FENCE);

// Tool definitions are not rendered by the upstream V3/V3.1 templates (servers inject them into the system
// prompt). We do it in the template, in the shape Ollama's deepseek3 renderer uses, with the call format
// of the family (V3: `function<｜tool▁sep｜>name\n```json\nargs\n````, V3.1: `name<｜tool▁sep｜>args`).
function toolsSection(callFormat: string): string {
  return raw(String.raw`
{%- if tools -%}
  {%- set ts = namespace(text='## Tools\nYou have access to the following tools:\n') -%}
  {%- for tool in tools -%}
    {%- set fn = tool['function'] if tool['function'] is defined else tool -%}
    {%- set ts.text = ts.text + '\n### ' + fn['name'] + '\nDescription: ' + (fn['description'] if fn['description'] is defined and fn['description'] is not none else '') -%}
    {%- if fn['parameters'] is defined and fn['parameters'] is not none -%}
      {%- set ts.text = ts.text + '\n\nParameters: ' + (fn['parameters'] | tojson) + '\n' -%}
    {%- else -%}
      {%- set ts.text = ts.text + '\n' -%}
    {%- endif -%}
  {%- endfor -%}
  {%- set ts.text = ts.text + '\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n' + '${callFormat}' + '\n\nWhere:\n\n- ' + '${'`'}tool_call_name${'`'}' + ' must be an exact match to one of the available tools\n- ' + '${'`'}tool_call_arguments${'`'}' + ' must be valid JSON that strictly follows the tool\'s Parameters Schema\n- For multiple tool calls, chain them directly without separators or spaces\n' -%}
  {%- if ns.system_prompt -%}
    {%- set ns.system_prompt = ns.system_prompt + '\n\n' + ts.text -%}
  {%- else -%}
    {%- set ns.system_prompt = ts.text -%}
  {%- endif -%}
{%- endif -%}`);
}

const V3_CALL_FORMAT =
  '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>tool_call_name\\n```json\\ntool_call_arguments\\n```<｜tool▁call▁end｜>{additional_tool_calls}<｜tool▁calls▁end｜>';
const V31_CALL_FORMAT =
  '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>tool_call_name<｜tool▁sep｜>tool_call_arguments<｜tool▁call▁end｜>{additional_tool_calls}<｜tool▁calls▁end｜>';

// System prompts of all system messages joined by "\n\n" (V3 / R1 / V3.1 behaviour).
const JOINED_SYSTEM = String.raw`
{%- for message in messages -%}
  {%- if message['role'] == 'system' -%}
    {%- if ns.is_first_sp -%}
      {%- set ns.system_prompt = ns.system_prompt + message['content'] -%}
      {%- set ns.is_first_sp = false -%}
    {%- else -%}
      {%- set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] -%}
    {%- endif -%}
  {%- endif -%}
{%- endfor -%}`;

/**
 * V3 / V3-0324 / R1 skeleton (reference 10.3). `stripThink` adds R1's `content.split('</think>')[-1]` on
 * assistant history; `genPrompt` is the generation prompt. Difference from upstream: `is_first` and
 * `is_output_first` are reset per assistant turn (upstream never resets them, so a second tool-using turn
 * loses its `<｜Assistant｜><｜tool▁calls▁begin｜>` / `<｜tool▁outputs▁begin｜>` openers).
 */
function v3Family(stripThink: boolean, genPrompt: string): string {
  return raw(String.raw`
{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = false -%}{%- endif -%}
{%- set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) -%}
${JOINED_SYSTEM}
${toolsSection(V3_CALL_FORMAT)}
{{- bos_token -}}{{- ns.system_prompt -}}
{%- for message in messages -%}
  {%- if message['role'] == 'user' -%}
    {%- set ns.is_tool = false -%}
    {{- '<｜User｜>' + message['content'] -}}
  {%- endif -%}
  {%- if message['role'] == 'assistant' and message['tool_calls'] -%}
    {%- set ns.is_tool = false -%}
    {%- set ns.is_first = false -%}
    {%- set ns.is_output_first = true -%}
    {%- for tool in message['tool_calls'] -%}
      {%- if not ns.is_first -%}
        {%- if message['content'] is none -%}
          {{- '<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + 'FENCEjson' + '\n' + tool['function']['arguments'] + '\n' + 'FENCE' + '<｜tool▁call▁end｜>' -}}
        {%- else -%}
          {{- '<｜Assistant｜>' + message['content'] + '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + 'FENCEjson' + '\n' + tool['function']['arguments'] + '\n' + 'FENCE' + '<｜tool▁call▁end｜>' -}}
        {%- endif -%}
        {%- set ns.is_first = true -%}
      {%- else -%}
        {{- '\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + 'FENCEjson' + '\n' + tool['function']['arguments'] + '\n' + 'FENCE' + '<｜tool▁call▁end｜>' -}}
      {%- endif -%}
    {%- endfor -%}
    {{- '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' -}}
  {%- endif -%}
  {%- if message['role'] == 'assistant' and not message['tool_calls'] -%}
    {%- if ns.is_tool -%}
      {{- '<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>' -}}
      {%- set ns.is_tool = false -%}
    {%- else -%}
      {%- set content = message['content'] -%}
${stripThink ? "      {%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}" : ''}
      {{- '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' -}}
    {%- endif -%}
  {%- endif -%}
  {%- if message['role'] == 'tool' -%}
    {%- set ns.is_tool = true -%}
    {%- if ns.is_output_first -%}
      {{- '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>' -}}
      {%- set ns.is_output_first = false -%}
    {%- else -%}
      {{- '<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>' -}}
    {%- endif -%}
  {%- endif -%}
{%- endfor -%}
{%- if ns.is_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- endif -%}
{%- if add_generation_prompt and not ns.is_tool -%}{{- '${genPrompt}' -}}{%- endif -%}
`);
}

/** R1-Distill (Qwen/Llama), reference 10.4: last system message only, '\n' between tool outputs. */
const R1_DISTILL = raw(String.raw`
{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = false -%}{%- endif -%}
{%- set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') -%}
{%- for message in messages -%}
  {%- if message['role'] == 'system' -%}{%- set ns.system_prompt = message['content'] -%}{%- endif -%}
{%- endfor -%}
{{- bos_token -}}{{- ns.system_prompt -}}
{%- for message in messages -%}
  {%- if message['role'] == 'user' -%}
    {%- set ns.is_tool = false -%}
    {{- '<｜User｜>' + message['content'] -}}
  {%- endif -%}
  {%- if message['role'] == 'assistant' and message['tool_calls'] -%}
    {%- set ns.is_tool = false -%}
    {%- set ns.is_first = false -%}
    {%- set ns.is_output_first = true -%}
    {%- for tool in message['tool_calls'] -%}
      {%- if not ns.is_first -%}
        {{- '<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + 'FENCEjson' + '\n' + tool['function']['arguments'] + '\n' + 'FENCE' + '<｜tool▁call▁end｜>' -}}
        {%- set ns.is_first = true -%}
      {%- else -%}
        {{- '\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\n' + 'FENCEjson' + '\n' + tool['function']['arguments'] + '\n' + 'FENCE' + '<｜tool▁call▁end｜>' -}}
      {%- endif -%}
    {%- endfor -%}
    {{- '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' -}}
  {%- endif -%}
  {%- if message['role'] == 'assistant' and message['content'] is not none -%}
    {%- if ns.is_tool -%}
      {{- '<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>' -}}
      {%- set ns.is_tool = false -%}
    {%- elif not message['tool_calls'] -%}
      {%- set content = message['content'] -%}
      {%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}
      {{- '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' -}}
    {%- endif -%}
  {%- endif -%}
  {%- if message['role'] == 'tool' -%}
    {%- set ns.is_tool = true -%}
    {%- if ns.is_output_first -%}
      {{- '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>' -}}
      {%- set ns.is_output_first = false -%}
    {%- else -%}
      {{- '\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>' -}}
    {%- endif -%}
  {%- endif -%}
{%- endfor -%}
{%- if ns.is_tool -%}{{- '<｜tool▁outputs▁end｜>' -}}{%- endif -%}
{%- if add_generation_prompt and not ns.is_tool -%}{{- '<｜Assistant｜><think>\n' -}}{%- endif -%}
`);

/**
 * V3.1 / V3.1-Terminus hybrid thinking (reference 10.5, llama.cpp deepseek-ai-DeepSeek-V3.1.jinja). `thinking`
 * (alias `enable_thinking`) selects `<think>` vs `</think>` after `<｜Assistant｜>`. Upstream quirk kept: no
 * generation prompt after a tool message (the model continues right after the tool output).
 */
const V31 = String.raw`
{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = false -%}{%- endif -%}
{%- if not thinking is defined -%}
  {%- if enable_thinking is defined -%}{%- set thinking = enable_thinking -%}{%- else -%}{%- set thinking = false -%}{%- endif -%}
{%- endif -%}
{%- set ns = namespace(is_first=false, is_tool=false, system_prompt='', is_first_sp=true, is_last_user=false) -%}
${JOINED_SYSTEM}
${toolsSection(V31_CALL_FORMAT)}
{{- bos_token -}}{{- ns.system_prompt -}}
{%- for message in messages -%}
  {%- if message['role'] == 'user' -%}
    {%- set ns.is_tool = false -%}
    {%- set ns.is_first = false -%}
    {%- set ns.is_last_user = true -%}
    {{- '<｜User｜>' + message['content'] -}}
  {%- endif -%}
  {%- if message['role'] == 'assistant' and message['tool_calls'] -%}
    {%- if ns.is_last_user -%}{{- '<｜Assistant｜></think>' -}}{%- endif -%}
    {%- set ns.is_last_user = false -%}
    {%- set ns.is_first = false -%}
    {%- set ns.is_tool = false -%}
    {%- for tool in message['tool_calls'] -%}
      {%- if not ns.is_first -%}
        {%- if message['content'] is none -%}
          {{- '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>' -}}
        {%- else -%}
          {{- message['content'] + '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>' -}}
        {%- endif -%}
        {%- set ns.is_first = true -%}
      {%- else -%}
        {{- '<｜tool▁call▁begin｜>' + tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments'] + '<｜tool▁call▁end｜>' -}}
      {%- endif -%}
    {%- endfor -%}
    {{- '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' -}}
  {%- endif -%}
  {%- if message['role'] == 'assistant' and not message['tool_calls'] -%}
    {%- if ns.is_last_user -%}
      {{- '<｜Assistant｜>' -}}
      {%- if message['prefix'] is defined and message['prefix'] and thinking -%}{{- '<think>' -}}{%- else -%}{{- '</think>' -}}{%- endif -%}
    {%- endif -%}
    {%- set ns.is_last_user = false -%}
    {%- if ns.is_tool -%}
      {{- message['content'] + '<｜end▁of▁sentence｜>' -}}
      {%- set ns.is_tool = false -%}
    {%- else -%}
      {%- set content = message['content'] -%}
      {%- if '</think>' in content -%}{%- set content = content.split('</think>', 1)[1] -%}{%- endif -%}
      {{- content + '<｜end▁of▁sentence｜>' -}}
    {%- endif -%}
  {%- endif -%}
  {%- if message['role'] == 'tool' -%}
    {%- set ns.is_last_user = false -%}
    {%- set ns.is_tool = true -%}
    {{- '<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt and ns.is_last_user and not ns.is_tool -%}
  {{- '<｜Assistant｜>' -}}
  {%- if not thinking -%}{{- '</think>' -}}{%- else -%}{{- '<think>' -}}{%- endif -%}
{%- endif -%}
`;

/** DeepSeek-LLM / MoE / V2 / V2-Lite / Coder-V2 chat (reference 10.1): `User: ..\n\nAssistant: ..<eos>`. */
const V2 = String.raw`
{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = false -%}{%- endif -%}
{{- bos_token -}}
{%- for message in messages -%}
  {%- if message['role'] == 'user' -%}
    {{- 'User: ' + message['content'] + '\n\n' -}}
  {%- elif message['role'] == 'assistant' -%}
    {{- 'Assistant: ' + message['content'] + eos_token -}}
  {%- elif message['role'] == 'system' -%}
    {{- message['content'] + '\n\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}
`;

const CODER_SYSTEM =
  'You are an AI programming assistant, utilizing the DeepSeek Coder model, developed by DeepSeek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer';

/** DeepSeek-Coder v1 instruct (reference 10.2): `### Instruction:` / `### Response:` with `<|EOT|>`. */
const CODER = String.raw`
{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = false -%}{%- endif -%}
{%- set ns = namespace(found=false) -%}
{%- for message in messages -%}{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}
{{- bos_token -}}
{%- if not ns.found -%}{{- '${CODER_SYSTEM}\n' -}}{%- endif -%}
{%- for message in messages -%}
  {%- if message['role'] == 'system' -%}
    {{- message['content'] -}}
  {%- elif message['role'] == 'user' -%}
    {{- '### Instruction:\n' + message['content'] + '\n' -}}
  {%- else -%}
    {{- '### Response:\n' + message['content'] + '\n<|EOT|>\n' -}}
  {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '### Response:' -}}{%- endif -%}
`;

const TEMPLATES: Record<BuiltinTemplateName, string> = {
  'deepseek-v3': v3Family(false, '<｜Assistant｜>'),
  // R1 as updated in Feb 2025: history stripped of thoughts, generation prompt forces the <think> opener.
  'deepseek-r1': v3Family(true, '<｜Assistant｜><think>\\n'),
  'deepseek-r1-distill': R1_DISTILL,
  'deepseek-v3.1': V31,
  'deepseek-v2': V2,
  'deepseek-llm': V2,
  'deepseek-coder': CODER,
};

export const BUILTIN_TEMPLATE_NAMES = Object.keys(TEMPLATES) as BuiltinTemplateName[];

/** Jinja source of a built-in template; throws for an unknown name (listing the known ones). */
export function builtinTemplate(name: BuiltinTemplateName): string {
  const src = (TEMPLATES as Record<string, string | undefined>)[name];
  if (src === undefined) {
    throw new Error(`unknown built-in chat template "${String(name)}"; known: ${BUILTIN_TEMPLATE_NAMES.join(', ')}`);
  }
  return src;
}
