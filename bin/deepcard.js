#!/usr/bin/env node
// deepcard command-line entry (compiled sources live in dist/).
import { run } from '../dist/cli/main.js';

process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
await run();
