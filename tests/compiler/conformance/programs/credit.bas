' Credit simulation: rules by number of installments.
talk "How many installments do you want to pay?"
hear installments AS INTEGER

If installments > 60 Then
    talk "The maximum number of installments is 60."
Else
    talk "What is the amount requested?"
    hear amount AS NUMBER

    If amount > 100000 Then
        talk "We can only accept proposals below 100k."
    Else
        rate = 0
        If installments < 12 Then
            rate = 1.6
        ElseIf installments < 24 Then
            rate = 1.66
        Else If installments < 48 Then
            rate = 1.64
        Else
            rate = 1.79
        End If

        entry = amount * 0.3
        financed = amount - entry
        total = financed * (1 + rate / 100 * installments)
        monthly = ROUND(total / installments, 2)

        talk "Entry: " + entry
        talk "Interest rate: " + rate + "% a month"
        talk "Monthly payment: " + monthly
        talk "Total: " + ROUND(total + entry, 2)
    End If
End If
