namespace ActorKv.Mvcc;

/// <summary>
/// A point in the store's history, as etcd numbers it: <see cref="Main"/> is bumped once per
/// write request (Put, DeleteRange, or a Txn that changes something); <see cref="Sub"/> orders the
/// changes inside that request, starting at 0.
/// </summary>
public readonly record struct Revision(long Main, long Sub) : IComparable<Revision>
{
    public int CompareTo(Revision other)
    {
        var byMain = Main.CompareTo(other.Main);
        return byMain != 0 ? byMain : Sub.CompareTo(other.Sub);
    }

    public static bool operator <(Revision left, Revision right) => left.CompareTo(right) < 0;
    public static bool operator >(Revision left, Revision right) => left.CompareTo(right) > 0;
    public static bool operator <=(Revision left, Revision right) => left.CompareTo(right) <= 0;
    public static bool operator >=(Revision left, Revision right) => left.CompareTo(right) >= 0;

    public override string ToString() => $"{Main}.{Sub}";
}
