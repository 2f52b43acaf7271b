// Run: node examples/chat.js path/to/model.gguf "your question"
// Streams the reasoning (dimmed) and the answer of a DeepSeek model through the library API.
import { loadModel } from '../dist/index.js';

const [path, question = 'What is the capital of France?'] = process.argv.slice(2);
if (!path) {
  console.error('usage: node examples/chat.js <model.gguf> [question]');
  process.exit(2);
}
const engine = await loadModel(path, { contextLength: 2048 });
try {
  const stream = await engine.chat.completions.create({
    messages: [{ role: 'user', content: question }],
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: Number(process.env.MAX_TOKENS ?? 256),
  });
  let thinking = false;
  for await (const chunk of stream) {
    const d = chunk.choices[0]?.delta;
    if (d?.reasoning_content) {
      if (!thinking) process.stdout.write('\x1b[2m');
      thinking = true;
      process.stdout.write(d.reasoning_content);
    }
    if (d?.content) {
      if (thinking) process.stdout.write('\x1b[0m\n\n');
      thinking = false;
      process.stdout.write(d.content);
    }
    if (chunk.usage) console.log(`\n\nusage: ${JSON.stringify(chunk.usage)}`);
  }
} finally {
  await engine.dispose();
}
