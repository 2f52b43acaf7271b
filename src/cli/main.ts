/**
 * `deepcard` command-line entry: dispatches to the command modules and turns errors into one
 * clear line on stderr with a non-zero exit code.
 */
import { helpFor, UsageError, type OptionSpec } from './args.js';
import { BENCH_OPTS, cmdBench, cmdInspect, cmdLogits, INSPECT_OPTS, LOGITS_OPTS, type Io } from './commands-model.js';
import { CHAT_OPTS, cmdChat, cmdRun, cmdTokenize, RUN_OPTS, TOKENIZE_OPTS } from './commands-text.js';
import { cmdServe, SERVE_OPTS } from './commands-serve.js';

const HELP = `deepcard - run DeepSeek models on any hardware

usage: deepcard <command> [options]

commands:
  inspect <model.gguf>                 architecture, parameters, tensor types, KV cache size
  logits <model.gguf> --tokens 1,2,3   log-probabilities at every position (JSON lines)
  bench <model.gguf>                   prompt-processing and generation speed (llama-bench style)
  run <model.gguf> -p "text"           stream one answer (chat template applied; --raw for plain completion)
  chat <model.gguf>                    interactive multi-turn chat
  serve <model.gguf>                   OpenAI-compatible HTTP server with a web chat page
  tokenize <model.gguf> --text T       token ids as a JSON array

run "deepcard <command> --help" for the options of a command.
`;

type Command = (argv: string[], io: Io) => number | Promise<number>;

const COMMANDS: Record<string, { run: Command; usage: string; options: readonly OptionSpec[] }> = {
  inspect: { run: cmdInspect, usage: 'deepcard inspect <model.gguf> [--json]', options: INSPECT_OPTS },
  logits: { run: cmdLogits, usage: 'deepcard logits <model.gguf> --tokens 1,2,3 [--top 10] [--threads N]', options: LOGITS_OPTS },
  bench: { run: cmdBench, usage: 'deepcard bench <model.gguf> [--pp 512] [--tg 128] [--reps 3] [--json]', options: BENCH_OPTS },
  run: { run: cmdRun, usage: 'deepcard run <model.gguf> -p "text" [--raw] [--hide-reasoning] [-n N] [--temp T] ...', options: RUN_OPTS },
  chat: { run: cmdChat, usage: 'deepcard chat <model.gguf> [options]', options: CHAT_OPTS },
  serve: { run: cmdServe, usage: 'deepcard serve <model.gguf> [--host 127.0.0.1] [--port 8080] [--api-key KEY] [--parallel N] [--queue N] [--ctx N] [--threads N] [--chat-template F]', options: SERVE_OPTS },
  tokenize: { run: cmdTokenize, usage: 'deepcard tokenize <model.gguf> (--text T | --jsonl F) [--no-special] [--bos]', options: TOKENIZE_OPTS },
};

export async function main(argv: string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(HELP);
    return 0;
  }
  if (cmd === '--version' || cmd === '-v') {
    io.out('deepcard 0.1.0\n');
    return 0;
  }
  const c = COMMANDS[cmd];
  if (!c) {
    io.err(`deepcard: unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(`usage: ${c.usage}\n\noptions:\n${helpFor(c.options)}\n`);
    return 0;
  }
  try {
    return await c.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`deepcard ${cmd}: ${e.message}\n`);
      return 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    io.err(`deepcard ${cmd}: error: ${msg}\n`);
    if (process.env.DEEPCARD_DEBUG && e instanceof Error) io.err(`${e.stack}\n`);
    return 1;
  }
}

export async function run(): Promise<void> {
  const io: Io = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    isTTY: !!process.stdout.isTTY,
    errTTY: !!process.stderr.isTTY,
  };
  const code = await main(process.argv.slice(2), io);
  process.exitCode = code;
}
