import { ConfigError, DEFAULTS, USAGE, parseConfig } from '../src/ops/config';

describe('parseConfig', () => {
  it('gives the defaults: port 8080, ping every 25 s, dead after 60 s, 64 KiB frames', () => {
    expect(parseConfig([])).toEqual({ help: false, config: DEFAULTS });
    expect(DEFAULTS).toMatchObject({ port: 8080, heartbeatIntervalMs: 25_000, heartbeatTimeoutMs: 60_000, maxPayload: 65_536 });
  });

  it('takes flags, and environment variables where no flag is given', () => {
    const parsed = parseConfig(['--port', '0', '--heartbeat-interval', '1000', '--heartbeat-timeout=3000', '--log-level', 'warn'],
      { HOST: '127.0.0.1', PORT: '9999', MAX_PAYLOAD: '1024' });
    expect(parsed).toEqual({
      help: false,
      config: { ...DEFAULTS, port: 0, host: '127.0.0.1', heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000, maxPayload: 1024, logLevel: 'warn' },
    });
  });

  it('takes --presence-max (default 1000), as a flag or PRESENCE_MAX', () => {
    expect(DEFAULTS.presenceMax).toBe(1000);
    expect(parseConfig(['--presence-max', '50'])).toEqual({ help: false, config: { ...DEFAULTS, presenceMax: 50 } });
    expect(parseConfig([], { PRESENCE_MAX: '7' })).toEqual({ help: false, config: { ...DEFAULTS, presenceMax: 7 } });
    expect(() => parseConfig(['--presence-max', 'lots'])).toThrow(/--presence-max/);
  });

  it('takes the message and room limits (issue 9): 10 a second, a burst of 20, rooms of 10,000; 0 turns each off', () => {
    expect(DEFAULTS).toMatchObject({ msgRate: 10, msgBurst: 20, maxRoomMembers: 10_000 });
    const parsed = parseConfig(['--msg-rate', '0', '--msg-burst', '50'], { MAX_ROOM_MEMBERS: '0' });
    expect(parsed).toMatchObject({ config: { msgRate: 0, msgBurst: 50, maxRoomMembers: 0 } });
    expect(() => parseConfig(['--msg-rate=-1'])).toThrow(/--msg-rate: expected a whole number from 0/);
    expect(() => parseConfig(['--max-room-members', 'lots'])).toThrow(ConfigError);
  });

  it('takes --metrics on|off (default on), and --metrics-port with --metrics-host (default: /metrics on --port)', () => {
    expect(DEFAULTS).toMatchObject({ metrics: 'on', metricsPort: '', metricsHost: '127.0.0.1' });
    expect(parseConfig(['--metrics', 'off'])).toEqual({ help: false, config: { ...DEFAULTS, metrics: 'off' } });
    expect(parseConfig(['--metrics-port', '9464'], { METRICS_HOST: '10.0.0.5' }))
      .toEqual({ help: false, config: { ...DEFAULTS, metricsPort: 9464, metricsHost: '10.0.0.5' } });
    expect(() => parseConfig(['--metrics', 'no'])).toThrow(/--metrics: expected on or off/);
    expect(() => parseConfig([], { METRICS_PORT: '70000' })).toThrow(/--metrics-port/);
  });

  it('takes the door\'s flags (issue 9): limits with 0 for none, switches without a value, origins normalised', () => {
    expect(DEFAULTS).toMatchObject({ allowedOrigins: '', maxConnsPerIp: 64, connRatePerIp: 120, maxConnections: 10_000, upgradeTimeoutMs: 10_000, trustProxy: false, limitLoopback: false });
    expect(parseConfig(['--trust-proxy', '--limit-loopback', '--max-connections', '0', '--allowed-origins', 'https://A.example:443,http://localhost:3000'])).toEqual({
      help: false,
      config: { ...DEFAULTS, trustProxy: true, limitLoopback: true, maxConnections: 0, allowedOrigins: 'https://a.example,http://localhost:3000' },
    });
    expect(parseConfig([], { TRUST_PROXY: 'yes', LIMIT_LOOPBACK: '0', CONN_RATE_PER_IP: '5' })).toEqual({ help: false, config: { ...DEFAULTS, trustProxy: true, connRatePerIp: 5 } });
    expect(() => parseConfig([], { TRUST_PROXY: 'maybe' })).toThrow(/TRUST_PROXY/);
    expect(() => parseConfig(['--allowed-origins', 'https://a.example/chat'])).toThrow(/--allowed-origins/);
    expect(() => parseConfig(['--max-conns-per-ip', '-1'])).toThrow(/--max-conns-per-ip/);
  });

  it('asks for help', () => {
    expect(parseConfig(['--help'])).toEqual({ help: true });
    expect(USAGE).toContain('--heartbeat-timeout');
  });

  it.each([
    [['--port', 'eighty'], /--port/],
    [['--port', '70000'], /--port/],
    [['--max-payload', '-5'], /--max-payload/],
    [['--log-level', 'loud'], /--log-level/],
    [['--nope'], /nope/],
    [['--heartbeat-interval', '5000', '--heartbeat-timeout', '5000'], /heartbeat-timeout/],
  ])('names the bad flag in %j', (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(ConfigError);
    expect(() => parseConfig(argv)).toThrow(message);
  });
});
