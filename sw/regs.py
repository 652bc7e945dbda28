"""Named register access over a `Device`, using the contract's register map."""

from chimney.contract import register_map, EngineParams


class Registers:
    def __init__(self, device, params: EngineParams = EngineParams()):
        self.device = device
        self.map = register_map(params)

    def offset(self, name):
        return self.map[name].offset

    async def read(self, name):
        return await self.device.read32(self.map[name].offset)

    async def write(self, name, value):
        await self.device.write32(self.map[name].offset, value & 0xFFFFFFFF)

    async def read_field(self, dotted):
        reg, fld = dotted.split(".")
        f = self.map[reg].field(fld)
        return (await self.read(reg)) >> f.lsb & ((1 << f.width) - 1)

    def encode(self, reg, **fields):
        """Register value with the named fields set (others zero)."""
        value = 0
        for name, v in fields.items():
            f = self.map[reg].field(name)
            if int(v) >> f.width:
                raise ValueError(f"{reg}.{name}={v} does not fit {f.width} bits")
            value |= int(v) << f.lsb
        return value

    def decode(self, reg, value):
        return {f.name: value >> f.lsb & ((1 << f.width) - 1) for f in self.map[reg].fields}

    async def write_fields(self, reg, **fields):
        await self.write(reg, self.encode(reg, **fields))

    async def read64(self, lo, hi):
        return await self.read(lo) | await self.read(hi) << 32

    async def write64(self, lo, hi, value):
        await self.write(lo, value & 0xFFFFFFFF)
        await self.write(hi, value >> 32)

    async def write_windows(self, windows):
        """WINn_BASE / WINn_LIMIT from [(base, limit), ...], window 0 first (only while
        the engine is disabled: they are locked while enabled)."""
        for i, (base, limit) in enumerate(windows):
            await self.write64(f"WIN{i}_BASE_LO", f"WIN{i}_BASE_HI", base)
            await self.write64(f"WIN{i}_LIMIT_LO", f"WIN{i}_LIMIT_HI", limit)
