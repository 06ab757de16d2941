// The media worker program: one lesson's pipelines, driven over stdio (see worker.ts).
import { errorMessage } from '../agent/errors.js';
import { runLessonWorker } from './worker.js';

runLessonWorker({ input: process.stdin, output: process.stdout, logStream: process.stderr, exit: (code) => process.exit(code) }).catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ type: 'error', message: errorMessage(e) }) + '\n');
  process.exit(1);
});
