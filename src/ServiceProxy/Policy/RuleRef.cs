using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>Which way a rule set checks traffic: to the pod (ingress) or from it (egress).</summary>
public enum PolicyDirection
{
    Ingress,
    Egress,
}

/// <summary>One rule of one policy: what a compiled rule id stands for (dump and explain print it as <c>ns/policy ingress[0]</c>).</summary>
public readonly record struct RuleRef(ObjectKey Policy, PolicyDirection Direction, int Index) : IComparable<RuleRef>
{
    public int CompareTo(RuleRef other)
    {
        var byPolicy = Policy.CompareTo(other.Policy);
        if (byPolicy != 0)
            return byPolicy;
        return Direction != other.Direction ? Direction.CompareTo(other.Direction) : Index.CompareTo(other.Index);
    }

    public override string ToString() => $"{Policy} {(Direction == PolicyDirection.Ingress ? "ingress" : "egress")}[{Index}]";
}
