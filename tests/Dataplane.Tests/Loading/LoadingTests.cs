using System.Diagnostics;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Loading;

/// <summary>Loading the embedded object without pins: programs, test runs, clock.</summary>
public sealed class LoadingTests
{
    [Test]
    public void TheCoreObjectIsEmbedded()
    {
        Assert.That(EmbeddedObjects.Names, Does.Contain(CoreObjectNames.ObjectFile));
        var elf = EmbeddedObjects.Read(CoreObjectNames.ObjectFile);
        Assert.That(elf.AsSpan(0, 4).ToArray(), Is.EqualTo(new byte[] { 0x7f, (byte)'E', (byte)'L', (byte)'F' }));
    }

    [Test]
    public void ReadingAnObjectThatIsNotEmbeddedNamesWhatIs()
    {
        var error = Assert.Throws<FileNotFoundException>(() => EmbeddedObjects.Read("nope.bpf.o"));
        Assert.That(error!.Message, Does.Contain("nope.bpf.o").And.Contain(CoreObjectNames.ObjectFile));
    }

    [Test]
    [Category("Privileged")]
    public void LoadsBothProgramsWithKernelIds()
    {
        Privileged.Require();
        using var dataplane = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(16, 16, 16, 16) });
        Assert.Multiple(() =>
        {
            Assert.That(dataplane.FromWorkload.Name, Is.EqualTo("pr_tc_from_wl"));
            Assert.That(dataplane.PassThrough.Name, Is.EqualTo("pr_tc_pass"));
            Assert.That(dataplane.FromWorkload.Id, Is.Not.Zero);
            Assert.That(dataplane.PassThrough.Id, Is.Not.Zero.And.Not.EqualTo(dataplane.FromWorkload.Id));
            Assert.That(dataplane.FromWorkload.Fd, Is.GreaterThan(2));
            Assert.That(dataplane.AdoptedMaps, Is.Empty);
        });
    }

    [Test]
    [Category("Privileged")]
    public void TestRunOfThePassProgramReturnsOkAndTheFrameUnchanged()
    {
        Privileged.Require();
        using var dataplane = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(16, 16, 16, 16) });
        // An Ethernet frame carrying an ARP-sized payload; pr_tc_pass must not look at it.
        var frame = new byte[60];
        new byte[] { 0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x08, 0x06 }.CopyTo(frame, 0);
        for (var i = 14; i < frame.Length; i++)
            frame[i] = (byte)i;

        var result = ProgramTestRun.Run(dataplane.PassThrough, frame, repeat: 10);

        Assert.That(result.ReturnValue, Is.EqualTo(0), "TC_ACT_OK");
        Assert.That(result.Output, Is.EqualTo(frame));
    }

    [Test]
    [Category("Privileged")]
    public void TestRunOfATooShortFrameFailsWithErrno()
    {
        Privileged.Require();
        using var dataplane = CoreDataplane.Load(new DataplaneOptions { Sizes = new CoreMapSizes(16, 16, 16, 16) });
        var error = Assert.Throws<BpfException>(() => ProgramTestRun.Run(dataplane.PassThrough, new byte[4]));
        Assert.That(error!.Errno, Is.EqualTo(Errno.EINVAL));
        Assert.That(error.Message, Does.Contain("pr_tc_pass").And.Contain("EINVAL"));
    }

    [Test]
    public void MonotonicIsTheMonotonicClock()
    {
        // .NET's Stopwatch reads CLOCK_MONOTONIC on Linux with nanosecond ticks: the two must agree.
        Assume.That(Stopwatch.Frequency, Is.EqualTo(1_000_000_000));
        var before = (ulong)Stopwatch.GetTimestamp();
        var now = Monotonic.NowNs();
        var after = (ulong)Stopwatch.GetTimestamp();
        Assert.That(now, Is.InRange(before, after));
    }
}
