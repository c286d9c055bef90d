import {
  IRecordMessage,
  isMeasured,
  isNested,
  parseMessage,
  recordMark,
  validateMessage
} from '../protocol';
import { processRecord, record, totals } from './fixtures';

const hello = {
  type: 'hello',
  version: '0.1.0',
  session_id: 'abc',
  sensors: [{ name: 'cpu', kind: 'cpu', method: 'estimated' }],
  skipped: [{ name: 'rapl', reason: 'no permission', fix: 'chmod' }],
  zone: 'FR',
  totals: totals()
};

const sample = {
  type: 'sample',
  t: 1700000000.5,
  power_w: { cpu: 12.5, 'gpu:0': 80.1 },
  methods: { cpu: 'estimated', 'gpu:0': 'counter' },
  intensity_g_per_kwh: 56.0,
  intensity: {
    provider: 'static',
    zone: 'FR',
    kind: 'static',
    fetched_at: null
  },
  energy_j: 1234.5,
  emissions_g: 0.02,
  totals: totals()
};

describe('validateMessage', () => {
  let warn: jest.SpyInstance;
  beforeEach(() => {
    warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => warn.mockRestore());

  it('accepts the documented hello', () => {
    expect(parseMessage(hello)).toEqual(hello);
    expect(warn).not.toHaveBeenCalled();
  });

  it('fills optional hello fields', () => {
    const m = parseMessage({ ...hello, skipped: undefined, zone: undefined });
    expect(m).toMatchObject({ type: 'hello', skipped: [], zone: null });
  });

  it('accepts the documented sample and a sample without intensity', () => {
    expect(parseMessage(sample)).toEqual(sample);
    expect(
      parseMessage({
        ...sample,
        intensity_g_per_kwh: null,
        intensity: null,
        methods: undefined
      })
    ).toMatchObject({
      intensity_g_per_kwh: null,
      intensity: null,
      methods: {}
    });
  });

  it('accepts a record and normalises a missing cell id to null', () => {
    const r = record({
      cell_id: undefined as unknown as null,
      intensity_segments: []
    });
    const m = parseMessage({ type: 'record', record: r });
    expect(m).not.toBeNull();
    expect(m!.type).toBe('record');
    if (m!.type === 'record') {
      expect(m!.record.cell_id).toBeNull();
      expect(m!.record.energy_j).toBe(7200);
      expect(m!.record.intensity_segments).toEqual([]);
    }
  });

  it("keeps a nested record's parent and reads an older record without one as top level", () => {
    const parent = {
      started_at: '2026-11-23T18:20:05.000Z',
      cell_id: null,
      label: 'training'
    };
    const m = parseMessage({
      type: 'record',
      record: record({ cell_id: null, label: 'epoch 1', parent })
    });
    expect(m).toMatchObject({ type: 'record', record: { parent } });
    expect(isNested((m as IRecordMessage).record)).toBe(true);
    const old = record();
    delete old.parent;
    const top = parseMessage({ type: 'record', record: old });
    expect(top).toMatchObject({ type: 'record', record: { parent: null } });
    expect(isNested((top as IRecordMessage).record)).toBe(false);
    expect(
      validateMessage({
        type: 'record',
        record: record({ parent: { label: 'x' } as never })
      }).problem
    ).toBe('bad or missing parent');
  });

  it('accepts provenance with extra keys and a numeric fetched_at', () => {
    const intensity = {
      provider: 'em',
      zone: 'FR',
      kind: 'live',
      fetched_at: 1795458412.5,
      source: 'x'
    };
    expect(parseMessage({ ...sample, intensity })).toMatchObject({ intensity });
    expect(
      parseMessage({ ...sample, intensity: { ...intensity, zone: 3 } })
    ).toBeNull();
  });

  it('reads the kernel totals from hello, sample and record; older kernels give null', () => {
    const r = parseMessage({
      type: 'record',
      record: record(),
      totals: totals({ cells: 3 })
    });
    expect(r).toMatchObject({
      type: 'record',
      totals: { cells: 3, idle_energy_j: 360 }
    });
    expect(parseMessage({ ...hello, totals: undefined })).toMatchObject({
      totals: null
    });
    expect(parseMessage({ ...sample, totals: undefined })).toMatchObject({
      totals: null
    });
    expect(parseMessage({ type: 'record', record: record() })).toMatchObject({
      totals: null
    });
  });

  it('accepts an export', () => {
    const e = {
      type: 'export',
      format: 'md',
      filename: 'x.md',
      content: '| a |'
    };
    expect(parseMessage(e)).toEqual(e);
  });

  it.each([
    ['not an object', 'hello'],
    ['null', null],
    ['an array', [hello]],
    ['unknown type', { type: 'telemetry' }],
    ['hello without sensors', { ...hello, sensors: undefined }],
    ['hello with bad sensor', { ...hello, sensors: [{ name: 1 }] }],
    ['sample with string power', { ...sample, power_w: { cpu: '12' } }],
    ['sample with NaN energy', { ...sample, energy_j: NaN }],
    ['sample without time', { ...sample, t: undefined }],
    [
      'record without energy',
      {
        type: 'record',
        record: record({ energy_j: undefined as unknown as number })
      }
    ],
    [
      'record with bad component',
      {
        type: 'record',
        record: record({ components: [{ name: 'cpu' }] as never })
      }
    ],
    ['record missing', { type: 'record' }],
    [
      'hello with negative totals',
      { ...hello, totals: totals({ idle_energy_j: -1 }) }
    ],
    [
      'sample with text totals',
      { ...sample, totals: { ...totals(), cells: '2' } }
    ],
    [
      'record with totals missing a field',
      {
        type: 'record',
        record: record(),
        totals: { ...totals(), session_emissions_g: undefined }
      }
    ],
    [
      'export with bad format',
      { type: 'export', format: 'exe', filename: 'a', content: '' }
    ]
  ])('ignores %s with a prefixed warning', (_, data) => {
    expect(parseMessage(data)).toBeNull();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(
      /^\[carbon_magic\] ignored comm message: /
    );
  });

  it('keeps a process-scope record nested in its cell and refuses forged scope fields', () => {
    const parent = {
      started_at: '2026-11-23T18:20:05.000Z',
      cell_id: 'cell-a',
      label: 'training'
    };
    const nested = processRecord({ parent, label: 'epoch 1' });
    expect(parseMessage({ type: 'record', record: nested })).toMatchObject({
      type: 'record',
      record: {
        scope: 'process',
        parent,
        components: [{ share: 0.3, device_energy_j: 7200 }]
      }
    });
    const component = processRecord().components[0];
    const bad: Array<[Partial<typeof nested>, string]> = [
      [{ scope: 'everything' }, 'bad or missing scope'],
      [{ scope_reason: 3 as never }, 'bad or missing scope_reason'],
      [
        { components: [{ ...component, share: 1.5 }] },
        'bad or missing components'
      ],
      [
        { components: [{ ...component, device_energy_j: -1 }] },
        'bad or missing components'
      ],
      [
        { components: [{ ...component, attribution: 7 as never }] },
        'bad or missing components'
      ]
    ];
    for (const [change, problem] of bad) {
      expect(
        validateMessage({ type: 'record', record: processRecord(change) })
          .problem
      ).toBe(problem);
    }
  });

  it('names the bad record fields', () => {
    const res = validateMessage({
      type: 'record',
      record: record({ energy_j: 'x' as never, status: 3 as never })
    });
    expect(res.problem).toBe('bad or missing status, energy_j');
  });
});

describe('isMeasured', () => {
  it('is true when every component is a counter', () => {
    expect(isMeasured(record())).toBe(true);
  });
  it('is false for sampled power or a failed counter', () => {
    const sampled = record();
    sampled.components = [
      { name: 'gpu:0', kind: 'gpu', method: 'sampled', energy_j: 1 }
    ];
    expect(isMeasured(sampled)).toBe(false);
    expect(recordMark(sampled)).toBe('sampled');
    const failed = record();
    failed.components = [
      {
        name: 'cpu:package-0',
        kind: 'cpu',
        method: 'counter',
        energy_j: 1,
        status: 'failed'
      }
    ];
    expect(isMeasured(failed)).toBe(false);
    expect(recordMark(failed)).toBe('estimated');
  });
  it('is false when any component is estimated', () => {
    const r = record();
    r.components = [
      ...r.components,
      { name: 'ram', kind: 'ram', method: 'estimated', energy_j: 1 }
    ];
    expect(isMeasured(r)).toBe(false);
  });
  it('is false with no components', () => {
    expect(isMeasured(record({ components: [] }))).toBe(false);
  });
});
