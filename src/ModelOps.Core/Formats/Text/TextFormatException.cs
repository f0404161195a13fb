using System;
using System.Globalization;

namespace ModelOps.Core.Formats.Text;

/// <summary>
/// Raised when protobuf text format input cannot be parsed. <see cref="Line"/> and
/// <see cref="Column"/> are 1-based and point at the offending token.
/// </summary>
public sealed class TextFormatException : Exception
{
    /// <summary>Creates an exception for a problem at the given 1-based position.</summary>
    public TextFormatException(int line, int column, string detail)
        : base(string.Format(CultureInfo.InvariantCulture, "line {0}, column {1}: {2}", line, column, detail))
    {
        Line = line;
        Column = column;
        Detail = detail;
    }

    /// <summary>Creates an exception for a problem at the given 1-based position, wrapping a cause.</summary>
    public TextFormatException(int line, int column, string detail, Exception innerException)
        : base(string.Format(CultureInfo.InvariantCulture, "line {0}, column {1}: {2}", line, column, detail), innerException)
    {
        Line = line;
        Column = column;
        Detail = detail;
    }

    /// <summary>1-based line of the problem.</summary>
    public int Line { get; }

    /// <summary>1-based column (in UTF-16 code units) of the problem.</summary>
    public int Column { get; }

    /// <summary>The description of the problem without the position prefix.</summary>
    public string Detail { get; }
}
