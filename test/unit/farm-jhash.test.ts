/**
 * The jhash port against the kernel: the expected buckets below were recorded
 * from nftables 1.0.6 on Linux 6.18, by marking UDP packets with
 * `jhash ip saddr . udp sport mod 256 seed 0x9e3779b9` (and `jhash ip saddr mod
 * 256 seed 0x12345678`) and collecting (saddr, sport, mark) in a dynamic set.
 * test/lab/farm-jhash.test.ts repeats the recording on the running kernel.
 */
import { describe, expect, it } from "vitest";
import { jhash, nftBucket, reciprocalScale } from "../../src/core/farm/jhash.ts";

const SADDR_SPORT: readonly (readonly [string, number, number])[] = [["198.51.100.7",35952,0],["192.0.2.33",36949,6],["192.0.2.33",23988,18],["198.51.100.201",23988,19],["198.51.100.201",35952,20],["198.51.100.7",34955,20],["198.51.100.201",31964,23],["198.51.100.7",27976,30],["198.51.100.201",27976,31],["198.51.100.7",21994,31],["198.51.100.201",28973,33],["198.51.100.201",22991,33],["198.51.100.201",26979,36],["198.51.100.7",26979,41],["192.0.2.33",25982,41],["198.51.100.201",30967,43],["198.51.100.7",28973,53],["198.51.100.201",21994,53],["192.0.2.33",29970,56],["198.51.100.7",30967,60],["198.51.100.7",24985,69],["198.51.100.7",32961,81],["198.51.100.201",20997,92],["192.0.2.33",35952,93],["192.0.2.33",22991,99],["198.51.100.7",23988,101],["198.51.100.7",31964,104],["198.51.100.201",34955,109],["192.0.2.33",37946,110],["198.51.100.201",20000,111],["198.51.100.201",37946,120],["192.0.2.33",21994,130],["198.51.100.201",33958,132],["192.0.2.33",20997,140],["198.51.100.201",25982,140],["192.0.2.33",33958,147],["198.51.100.201",32961,153],["198.51.100.7",29970,157],["198.51.100.7",36949,163],["192.0.2.33",30967,183],["198.51.100.7",37946,191],["198.51.100.201",24985,192],["198.51.100.7",20997,195],["192.0.2.33",34955,195],["198.51.100.7",38943,201],["192.0.2.33",31964,201],["192.0.2.33",32961,206],["198.51.100.201",29970,212],["192.0.2.33",38943,215],["192.0.2.33",27976,224],["198.51.100.7",20000,231],["198.51.100.201",36949,231],["192.0.2.33",24985,234],["192.0.2.33",20000,236],["192.0.2.33",26979,236],["192.0.2.33",28973,241],["198.51.100.7",25982,247],["198.51.100.7",22991,248],["198.51.100.201",38943,250],["198.51.100.7",33958,253]];
const SADDR: readonly (readonly [string, number])[] = [["198.51.100.201",57],["192.0.2.33",112],["198.51.100.7",179]];

describe("jhash as nftables runs it", () => {
  it("puts (saddr, sport) in the kernel's bucket", () => {
    const got = SADDR_SPORT.map(([ip, port]) => nftBucket(ip, port, 256, 0x9e3779b9));
    expect(got).toEqual(SADDR_SPORT.map((x) => x[2]));
  });

  it("puts saddr alone in the kernel's bucket", () => {
    expect(SADDR.map(([ip]) => nftBucket(ip, undefined, 256, 0x12345678))).toEqual(SADDR.map((x) => x[1]));
  });

  it("hashes keys longer than one 12-byte block and of every tail length", () => {
    // lookup3 reference values (hashlittle with initval = 0, which is the
    // kernel's jhash since both start from 0xdeadbeef + length + initval).
    expect(jhash(new Uint8Array(0), 0)).toBe(0xdeadbeef);
    expect(jhash(new TextEncoder().encode("Four score and seven years ago"), 0)).toBe(0x17770551);
    expect(jhash(new TextEncoder().encode("Four score and seven years ago"), 1)).toBe(0xcd628161);
  });

  it("scales like reciprocal_scale", () => {
    expect(reciprocalScale(0, 256)).toBe(0);
    expect(reciprocalScale(0xffffffff, 256)).toBe(255);
    expect(reciprocalScale(0x80000000, 256)).toBe(128);
  });

  it("refuses what is not an IPv4 address or a port", () => {
    expect(() => nftBucket("2001:db8::1", 1, 256, 0)).toThrow(RangeError);
    expect(() => nftBucket("198.51.100.300", 1, 256, 0)).toThrow(/not an IPv4/);
    expect(() => nftBucket("198.51.100.3", 70000, 256, 0)).toThrow(/port 70000/);
  });
});
