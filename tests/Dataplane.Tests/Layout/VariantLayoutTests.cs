using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.SocketLb;

namespace ProxyReplacement.Dataplane.Tests.Layout;

/// <summary>
/// The compat build of each object declares exactly the maps of the default build (names, types, key and value
/// sizes, sizes, flags) and the same programs: a daemon restarted with the other build adopts every pin, and
/// the programs it attaches in place of the old ones take the same maps. Read from the ELF files alone.
/// </summary>
public sealed class VariantLayoutTests
{
    private static IEnumerable<TestCaseData> Objects()
    {
        yield return new TestCaseData(CoreObjectNames.ObjectFile,
            new[] { CoreObjectNames.FromWorkloadProgram, CoreObjectNames.PassThroughProgram }).SetName("tc_nat");
        yield return new TestCaseData(SocketLoadBalancer.ObjectFile, SocketHooks.All.Select(SocketHooks.ProgramName).ToArray()).SetName("sock_lb");
        yield return new TestCaseData(SocketTerminator.ObjectFile, new[] { SocketTerminator.TcpProgram, SocketTerminator.UdpProgram }).SetName("sock_destroy");
    }

    [TestCaseSource(nameof(Objects))]
    public void The_compat_build_has_the_maps_and_programs_of_the_default_build(string objectFile, string[] programs)
    {
        using var fast = BpfObjectHandle.Open(EmbeddedObjects.Read(objectFile), "layout_fast");
        using var compat = BpfObjectHandle.Open(EmbeddedObjects.Read(DataplaneVariants.ObjectFile(objectFile, DataplaneVariant.Compat)), "layout_compat");

        Assert.Multiple(() =>
        {
            Assert.That(Maps(compat), Is.EquivalentTo(Maps(fast)));
            Assert.That(Maps(fast), Is.Not.Empty);
            foreach (var program in programs)
            {
                Assert.That(LibBpf.bpf_object__find_program_by_name(fast.Pointer, program), Is.Not.Zero, $"{program} in {objectFile}");
                Assert.That(LibBpf.bpf_object__find_program_by_name(compat.Pointer, program), Is.Not.Zero, $"{program} in the compat build");
            }
        });
    }

    private static Dictionary<string, BpfMapLayout> Maps(BpfObjectHandle obj) =>
        BpfObjectLoader.MapsOf(obj.Pointer).Where(pair => PinRoot.IsPinnable(pair.Key))
            .ToDictionary(pair => pair.Key, pair => BpfObjectLoader.WantedLayout(pair.Value));
}
