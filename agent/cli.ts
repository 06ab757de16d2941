#!/usr/bin/env node
// The `lectern` command: the daemon (`lectern agent`) and the technician's tools. Each area
// registers its own subcommands; this file only assembles them.
import { Command } from 'commander';
import { registerAgentCommand } from './cli/agent.js';
import { registerConfigCommands } from './cli/config.js';
import { registerLessonsCommands } from './cli/lessons.js';
import { registerLessonCommands } from './cli/lesson.js';
import { registerTimetableCommands } from './cli/timetable.js';
import { registerUploadsCommands } from './cli/uploads.js';
import { agentVersion } from './version.js';
import { registerSimUplink } from '../drivers/uplink/cli.js';
import { registerCameraCommands, registerSimCamera } from '../drivers/visca/cli.js';
import { registerDisplayCommands, registerSimDisplay } from '../drivers/display/cli.js';
import { registerPipelineCommands } from '../pipelines/cli.js';
import { registerMicCommands } from '../drivers/mic/cli.js';
import { registerProvisioningCommands } from '../provisioning/cli.js';

export function buildProgram(): Command {
  const program = new Command('lectern')
    .description('Classroom appliance agent for live dedicated-delivery classrooms (5G+专递课堂)')
    .showHelpAfterError()
    .version(agentVersion())
    .configureHelp({ sortSubcommands: true });
  registerAgentCommand(program);
  registerConfigCommands(program);
  registerLessonsCommands(program);
  registerLessonCommands(program);
  registerTimetableCommands(program);
  registerUploadsCommands(program);
  const sim = program.command('sim').description('simulators for a classroom kit without hardware (cameras, display, uplink)');
  registerSimUplink(sim);
  registerSimCamera(sim);
  registerSimDisplay(sim);
  registerCameraCommands(program);
  registerDisplayCommands(program);
  registerPipelineCommands(program);
  registerMicCommands(program);
  registerProvisioningCommands(program);
  return program;
}

async function main(): Promise<void> {
  await buildProgram().parseAsync(process.argv);
}

main().catch((e: unknown) => {
  process.stderr.write(`lectern: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
