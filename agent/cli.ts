#!/usr/bin/env node
// The `lectern` command: the daemon (`lectern agent`) and the technician's tools. Each area
// registers its own subcommands; this file only assembles them.
import { Command } from 'commander';

export function buildProgram(): Command {
  const program = new Command('lectern')
    .description('Classroom appliance agent for live dedicated-delivery classrooms (5G+专递课堂)')
    .showHelpAfterError()
    .configureHelp({ sortSubcommands: true });
  program.command('sim').description('simulators for a classroom kit without hardware (cameras, uplink)');
  return program;
}

async function main(): Promise<void> {
  await buildProgram().parseAsync(process.argv);
}

main().catch((e: unknown) => {
  process.stderr.write(`lectern: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
