/**
 * Camera configuration: the type, a JSON Schema fragment for the agent's Ajv validation, and
 * the factory that turns a list of camera configs into cameras, one bus per port: cameras on
 * the same serial path (or the same raw TCP endpoint) are a daisy chain and share one bus.
 */
import { ConfigError } from '../../agent/errors.js';
import type { Logger } from '../../agent/log.js';
import { silentLogger } from '../../agent/log.js';
import { Camera, type CameraOptions } from './camera.js';
import { PAN_SPEED_MAX, VISCA_IP_PORT, VISCA_TCP_PORT } from './codec.js';
import { ViscaController, type ControllerOptions } from './controller.js';
import { SerialTransport, type BaudRate } from './serial.js';
import { TcpTransport } from './tcp.js';
import type { ViscaTransport } from './transport.js';
import { ViscaIpTransport } from './visca-ip.js';

export type CameraTransportConfig =
  | { type: 'serial'; path: string; baudRate?: BaudRate }
  | { type: 'visca-ip'; host: string; port?: number }
  | { type: 'tcp'; host: string; port?: number };

export interface CameraConfig {
  /** The camera's name, e.g. `teacher`: `^[a-z0-9][a-z0-9_-]{0,31}$`. */
  id: string;
  /** A model label reported until the camera answers the version inquiry. */
  model?: string;
  /** VISCA address 1–7 (default 1); always 1 over VISCA over IP. */
  address?: number;
  /**
   * Pan/tilt speed (1–24) the camera is set to use for preset recall. The reference command
   * table has no message to set it, so it is not sent; it lengthens the time a recall may take
   * before it counts as failed (a slow recall takes longer).
   */
  presetSpeed?: number;
  transport: CameraTransportConfig;
}

export const CAMERA_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,31}$';

/** JSON Schema (draft 2020-12) for one CameraConfig. */
export const cameraConfigSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'transport'],
  properties: {
    id: { type: 'string', pattern: CAMERA_ID_PATTERN, description: 'camera name, e.g. teacher' },
    model: { type: 'string', minLength: 1, maxLength: 64 },
    address: { type: 'integer', minimum: 1, maximum: 7, default: 1 },
    presetSpeed: { type: 'integer', minimum: 1, maximum: PAN_SPEED_MAX },
    transport: {
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'path'],
          properties: {
            type: { const: 'serial' },
            path: { type: 'string', minLength: 1, description: 'e.g. /dev/serial/by-id/usb-FTDI_...-if00-port0' },
            baudRate: { enum: [9600, 19200, 38400], default: 9600 },
          },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'host'],
          properties: {
            type: { const: 'visca-ip' },
            host: { type: 'string', minLength: 1 },
            port: { type: 'integer', minimum: 1, maximum: 65535, default: VISCA_IP_PORT },
          },
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['type', 'host'],
          properties: {
            type: { const: 'tcp' },
            host: { type: 'string', minLength: 1 },
            port: { type: 'integer', minimum: 1, maximum: 65535, default: VISCA_TCP_PORT },
          },
        },
      ],
    },
  },
  // VISCA over IP cameras are always address 1.
  if: { required: ['transport'], properties: { transport: { required: ['type'], properties: { type: { const: 'visca-ip' } } } } },
  then: { properties: { address: { const: 1 } } },
} as const;

/** JSON Schema for the list of cameras. */
export const camerasConfigSchema = {
  type: 'array',
  items: cameraConfigSchema,
} as const;

export interface CreateCamerasOptions {
  log?: Logger;
  /** Bus tuning (timeouts, tries, reconnect); the transport comes from the config. */
  bus?: Omit<ControllerOptions, 'transport' | 'log'>;
  /** Camera tuning (poll interval, slow-reply threshold, default speeds). */
  camera?: Omit<CameraOptions, 'id' | 'address' | 'bus' | 'log' | 'model'>;
  /**
   * Replaces the transport a config would open, e.g. an in-memory link to an in-process
   * simulator in simulate mode. Return undefined to use the configured one.
   */
  transport?: (config: CameraTransportConfig) => ViscaTransport | undefined;
}

function busKey(t: CameraTransportConfig): string {
  switch (t.type) {
    case 'serial':
      return `serial:${t.path}`;
    case 'tcp':
      return `tcp:${t.host}:${t.port ?? VISCA_TCP_PORT}`;
    case 'visca-ip':
      return `visca-ip:${t.host}:${t.port ?? VISCA_IP_PORT}`;
  }
}

function makeTransport(t: CameraTransportConfig): ViscaTransport {
  switch (t.type) {
    case 'serial':
      return new SerialTransport({ path: t.path, ...(t.baudRate ? { baudRate: t.baudRate } : {}) });
    case 'tcp':
      return new TcpTransport({ host: t.host, ...(t.port ? { port: t.port } : {}) });
    case 'visca-ip':
      return new ViscaIpTransport({ host: t.host, ...(t.port ? { port: t.port } : {}) });
  }
}

/** Checks what a per-camera schema cannot: names, addresses and ports across cameras. */
export function checkCameraConfigs(configs: readonly CameraConfig[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  const buses = new Map<string, { baudRate: number | undefined; addresses: Map<number, string> }>();
  configs.forEach((c, i) => {
    const at = `cameras[${i}]`;
    if (!new RegExp(CAMERA_ID_PATTERN).test(c.id)) problems.push(`${at}.id: "${c.id}" must match ${CAMERA_ID_PATTERN}`);
    if (ids.has(c.id)) problems.push(`${at}.id: "${c.id}" is used by another camera`);
    ids.add(c.id);
    const address = c.address ?? 1;
    if (!Number.isInteger(address) || address < 1 || address > 7) problems.push(`${at}.address: must be 1–7, got ${address}`);
    if (c.transport.type === 'visca-ip' && address !== 1) problems.push(`${at}.address: VISCA over IP cameras are always address 1`);
    if (c.presetSpeed !== undefined && (!Number.isInteger(c.presetSpeed) || c.presetSpeed < 1 || c.presetSpeed > PAN_SPEED_MAX)) {
      problems.push(`${at}.presetSpeed: must be 1–${PAN_SPEED_MAX}, got ${c.presetSpeed}`);
    }
    const key = busKey(c.transport);
    const baudRate = c.transport.type === 'serial' ? (c.transport.baudRate ?? 9600) : undefined;
    const bus = buses.get(key) ?? { baudRate, addresses: new Map<number, string>() };
    buses.set(key, bus);
    if (bus.baudRate !== baudRate) problems.push(`${at}.transport.baudRate: ${baudRate} differs from another camera on the same port (${bus.baudRate})`);
    const other = bus.addresses.get(address);
    if (other !== undefined) problems.push(`${at}.address: ${address} is already camera "${other}" on ${key.replace(/^[a-z-]+:/, '')}`);
    bus.addresses.set(address, c.id);
  });
  return problems;
}

/**
 * Build the cameras. Cameras sharing a serial path (or a raw TCP endpoint) share one bus. Call
 * `start()` on each; the bus opens with its first camera and closes with its last.
 */
export function createCameras(configs: readonly CameraConfig[], options: CreateCamerasOptions = {}): Camera[] {
  const problems = checkCameraConfigs(configs);
  if (problems.length > 0) throw new ConfigError('invalid camera configuration', problems);
  const log = options.log ?? silentLogger();
  const buses = new Map<string, ViscaController>();
  return configs.map((c) => {
    const key = busKey(c.transport);
    let bus = buses.get(key);
    if (!bus) {
      const transport = options.transport?.(c.transport) ?? makeTransport(c.transport);
      bus = new ViscaController({ ...options.bus, transport, log });
      buses.set(key, bus);
    }
    const presetTimeoutMs = c.presetSpeed !== undefined ? Math.round(15_000 * Math.min(4, PAN_SPEED_MAX / c.presetSpeed)) : undefined;
    return new Camera({
      ...options.camera,
      id: c.id,
      address: c.address ?? 1,
      bus,
      log,
      ...(c.model ? { model: c.model } : {}),
      ...(presetTimeoutMs !== undefined && options.camera?.presetTimeoutMs === undefined ? { presetTimeoutMs } : {}),
    });
  });
}
