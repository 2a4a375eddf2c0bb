namespace ProxyReplacement.Dataplane.Tests.Golden;

/// <summary>TC return codes (linux/pkt_cls.h).</summary>
public static class TcVerdict
{
    public const int Ok = 0;
    public const int Shot = 2;
    public const int Redirect = 7;
}
